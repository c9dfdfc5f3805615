/*
 * bfc: TensorFlow's BFCAllocator ("best-fit with coalescing",
 * tensorflow/core/common_runtime/bfc_allocator.cc) on fraglab's host
 * mechanism.
 *
 *   - rounding: BFC rounds every request up to a multiple of 256 bytes
 *     (kMinAllocationSize); fraglab's blocks are multiples of 512, so the
 *     host default rounding (up to a multiple of 512) stands in for it. No
 *     hook.
 *   - search: BFC's bins hold chunks of [256 << b, 256 << (b + 1)) bytes,
 *     each bin sorted by (size, address); FindChunkPtr scans the bins from
 *     the request's upwards and takes the first chunk that fits. That is
 *     the smallest fitting chunk, lowest address first: the host's default
 *     best-fit order, exactly. No hook.
 *   - policy_choose_pool: pool 1 for every request (one BFC allocator for
 *     every size).
 *   - policy_split: split off the request when the chunk is at least twice
 *     the request, or when the remainder is at least 128 MiB
 *     (kMaxInternalFragmentation); otherwise the whole chunk is handed out.
 *   - merges: the host default, coalescing with both free neighbours on
 *     free (TryToCoalesce); regions are classic segments, never merged.
 *   - policy_segment_size: Extend. curr_region_allocation_bytes_ starts at
 *     initial_region_mb MiB (TF's allow_growth start is 2 MiB), or at the
 *     device capacity with allow_growth=false. While the request does not
 *     fit, it doubles; the region is min(curr, device bytes free rounded
 *     down to the granularity), at least the request; after a region is added without such doubling, curr
 *     doubles for the next one. So regions go 1x, 2x, 4x ... the initial
 *     size.
 *   - policy_release: regions are never freed, except BFC's retry path
 *     (DeallocateFreeRegions, TF_ENABLE_GPU_GARBAGE_COLLECTION): when a
 *     growth fails, release every wholly free region once and retry
 *     (parameter garbage_collection, default true); then OOM.
 *
 * Parameters (read in policy_init):
 *   initial_region_mb   the first region, MiB (default 2, 1..2^28)
 *   allow_growth        false: the first region is the whole device (needs
 *                       a device capacity); default true
 *   garbage_collection  release wholly free regions when a growth fails,
 *                       then retry (default true)
 *
 * Build (from policies/bfc): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

#define MAX_INTERNAL_FRAGMENTATION (128 * FRAGLAB_MIB)
#define MAX_REGION_MB ((fraglab_i64)1 << 28) /* 2^48 bytes */

/* curr_region_allocation_bytes_: the size of the next region. */
static fraglab_i64 curr;
/* Whether the last policy_segment_size doubled curr for the next region
 * before knowing the region was added: undone when the growth fails. */
static int pending_double;
static int garbage_collection = 1;

static fraglab_text why;

fraglab_i64 policy_init(void) {
    fraglab_i64 mb = fraglab_param_i64("initial_region_mb", 2);
    fraglab_i64 growth = fraglab_param_i64("allow_growth", 1);
    fraglab_i64 gc = fraglab_param_i64("garbage_collection", 1);
    fraglab_i64 capacity = fraglab_stat(FRAGLAB_STAT_CAPACITY, 0);
    if (mb < 1 || mb > MAX_REGION_MB)
        return fraglab_param_error(&why, "initial_region_mb", mb, "must be 1..268435456");
    if (growth != 0 && growth != 1)
        return fraglab_param_error(&why, "allow_growth", growth, "must be true or false");
    if (gc != 0 && gc != 1)
        return fraglab_param_error(&why, "garbage_collection", gc, "must be true or false");
    garbage_collection = (int)gc;
    curr = mb * FRAGLAB_MIB;
    if (!growth) {
        if (capacity < FRAGLAB_BLOCK_ALIGN)
            return fraglab_error(
                "allow_growth=false: the first region is the whole device, "
                "which needs a device capacity (--capacity)");
        curr = fraglab_align_down(capacity, FRAGLAB_BLOCK_ALIGN);
    } else if (capacity >= FRAGLAB_BLOCK_ALIGN &&
               fraglab_align_down(capacity, FRAGLAB_BLOCK_ALIGN) < curr) {
        /* min(total_memory, initial) */
        curr = fraglab_align_down(capacity, FRAGLAB_BLOCK_ALIGN);
    }
    return 0;
}

fraglab_i64 policy_choose_pool(fraglab_i64 rounded, fraglab_i32 stream,
                               fraglab_i32 tag) {
    return FRAGLAB_POOL_LARGE;
}

fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    if (block_size / 2 >= rounded ||
        block_size - rounded >= MAX_INTERNAL_FRAGMENTATION)
        return rounded;
    return block_size;
}

fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag) {
    int increased = 0;
    while (rounded > curr) {
        curr = curr > FRAGLAB_MAX_SIZE / 2 ? FRAGLAB_MAX_SIZE : curr * 2;
        increased = 1;
    }
    /* min(curr, the device's free bytes rounded down to its granularity,
     * so the region's footprint fits) */
    fraglab_i64 bytes = curr;
    fraglab_i64 avail = fraglab_stat(FRAGLAB_STAT_DEVICE_FREE, 0);
    fraglab_i64 gran = fraglab_stat(FRAGLAB_STAT_GRANULARITY, 0);
    if (gran < FRAGLAB_BLOCK_ALIGN || gran % FRAGLAB_BLOCK_ALIGN != 0)
        gran = FRAGLAB_BLOCK_ALIGN;
    if (fraglab_stat(FRAGLAB_STAT_CAPACITY, 0) >= 0 && avail >= 0 &&
        avail - avail % gran < bytes)
        bytes = avail - avail % gran;
    if (bytes < rounded) /* the device will refuse: the release path */
        bytes = rounded;
    pending_double = !increased;
    if (pending_double)
        curr = curr > FRAGLAB_MAX_SIZE / 2 ? FRAGLAB_MAX_SIZE : curr * 2;
    return bytes;
}

fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt) {
    if (phase != FRAGLAB_PHASE_GROW_FAILED)
        return FRAGLAB_ACT_NOTHING;
    if (attempt == 0 && garbage_collection)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_CACHED, 0); /* retried */
    /* The region was not added: BFC doubles only after a success. */
    if (pending_double) {
        curr /= 2;
        pending_double = 0;
    }
    return FRAGLAB_ACT_NOTHING;
}
