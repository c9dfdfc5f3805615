/*
 * pytorch: PyTorch's CUDA caching allocator as a fraglab policy.
 *
 * Each hook implements one rule of c10/cuda/CUDACachingAllocator.cpp as
 * summarised in shared/reference/pytorch-caching-allocator.md (cited below
 * as "ref §n"). At the default settings every answer equals the host
 * default of sdk/ABI.md §4, which is PyTorch with an empty
 * PYTORCH_CUDA_ALLOC_CONF.
 *
 * All of PyTorch's knobs live in `struct settings`, which policy_init fills
 * with PyTorch's defaults and which every rule reads. No parameter is read
 * yet: the host refuses a parameter a policy never reads, so each knob gets
 * its parameter when it is wired and tested. Expandable segments are not
 * implemented: policy_segment_mode is not exported, so every segment is
 * classic (the host default).
 *
 * Not exported, because the host default is PyTorch's rule already:
 * policy_search_order (best fit, ref §2), policy_merge (always merge free
 * neighbours of the same segment, ref §3.2), policy_segment_mode (classic),
 * policy_expand_size and policy_observe.
 *
 * Build (from policies/pytorch):
 *   clang --target=wasm32 -std=c11 -O2 -ffreestanding -nostdlib -Wall -Wextra
 *         -Wno-unused-parameter -Wmissing-prototypes -Werror
 *         -Wl,--no-entry -Wl,--strip-all -I../../sdk/c
 *         -o pytorch.wasm pytorch.c
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

/* Constants of the allocator (ref §1.1); not configurable in PyTorch. */
#define MIN_BLOCK_SIZE  512                 /* kMinBlockSize */
#define SMALL_SIZE      FRAGLAB_MIB         /* kSmallSize: largest small request */
#define SMALL_BUFFER    (2 * FRAGLAB_MIB)   /* kSmallBuffer: small-pool segment */
#define LARGE_BUFFER    (20 * FRAGLAB_MIB)  /* kLargeBuffer */
#define MIN_LARGE_ALLOC (10 * FRAGLAB_MIB)  /* kMinLargeAlloc */
#define ROUND_LARGE     (2 * FRAGLAB_MIB)   /* kRoundLarge */

/* roundup_power2_divisions has one entry per power-of-two interval from
 * 1 MiB (2^20) to 64 GiB (ref §1.3). */
#define POWER2_INTERVALS   16
#define POWER2_FIRST_SHIFT 20

/* max_split_size when unset: no block is "oversize" (PyTorch: SIZE_MAX). */
#define UNLIMITED ((fraglab_i64)0x7fffffffffffffffLL)

/* Candidates offered to policy_pick_block. Only the expandable tie-break
 * looks past the first one, so with classic segments one candidate is all
 * the rules read (and the host then writes one record per malloc, not 8);
 * with expandable segments the tie-break may walk up to 8. */
#define CANDIDATE_WINDOW_CLASSIC    1
#define CANDIDATE_WINDOW_EXPANDABLE 8

FRAGLAB_SCRATCH(CANDIDATE_WINDOW_EXPANDABLE * FRAGLAB_RECORD_SIZE);

/* PyTorch's PYTORCH_CUDA_ALLOC_CONF knobs (ref §1.3, §1.5, §2, §4.3, §5),
 * as byte counts. */
struct settings {
    /* max_split_size_mb: blocks of at least this size are "oversize": never
     * split, and not handed to smaller requests (ref §2, §3.1). */
    fraglab_i64 max_split_size;
    /* max_non_split_rounding_mb: the most an oversize block may exceed an
     * oversize request it serves (ref §2 rule b). */
    fraglab_i64 max_non_split_rounding;
    /* large_segment_size_mb: the segment for 1 MiB < rounded < 10 MiB
     * (ref §1.5). */
    fraglab_i64 large_segment_size;
    /* garbage_collection_threshold in (0, 1); 0 disables GC (ref §4.3). */
    double garbage_collection_threshold;
    /* expandable_segments: only the classic mode (0) is implemented. */
    int expandable_segments;
    /* roundup_power2_divisions: 0 (or 1) disables the interval (ref §1.3). */
    fraglab_i64 roundup_power2_divisions[POWER2_INTERVALS];
};

static struct settings settings;

/* PyTorch's defaults: an empty PYTORCH_CUDA_ALLOC_CONF. */
static void default_settings(struct settings *s) {
    s->max_split_size = UNLIMITED;
    s->max_non_split_rounding = LARGE_BUFFER;
    s->large_segment_size = LARGE_BUFFER;
    s->garbage_collection_threshold = 0;
    s->expandable_segments = 0;
    for (int i = 0; i < POWER2_INTERVALS; i++)
        s->roundup_power2_divisions[i] = 0;
}

fraglab_i64 policy_init(void) {
    default_settings(&settings);
    fraglab_i64 window = settings.expandable_segments
                             ? CANDIDATE_WINDOW_EXPANDABLE
                             : CANDIDATE_WINDOW_CLASSIC;
    if (fraglab_config(FRAGLAB_CONFIG_CANDIDATE_WINDOW, window) != window)
        return fraglab_error("pytorch: the host refused the candidate window");
    return 0;
}

/* floor(log2 n), n > 0. */
static int log2_floor(fraglab_u64 n) { return 63 - __builtin_clzll(n); }

/* The divisions entry for size n: interval floor(log2 n) - 20, clamped to
 * the table (ref §1.3). */
static fraglab_i64 power2_divisions(fraglab_i64 n) {
    int i = log2_floor((fraglab_u64)n) - POWER2_FIRST_SHIFT;
    if (i < 0)
        i = 0;
    if (i > POWER2_INTERVALS - 1)
        i = POWER2_INTERVALS - 1;
    return settings.roundup_power2_divisions[i];
}

/* roundup_power2_next_division (ref §1.2): a power of two stays; otherwise
 * round up to a multiple of P / d, P the largest power of two <= n. */
static fraglab_i64 power2_next_division(fraglab_i64 n, fraglab_i64 d) {
    fraglab_u64 u = (fraglab_u64)n;
    if ((u & (u - 1)) == 0)
        return n;
    fraglab_u64 p = (fraglab_u64)1 << log2_floor(u);
    fraglab_u64 step = p >> log2_floor((fraglab_u64)d);
    if (step == 0)
        return (fraglab_i64)(p << 1);
    fraglab_u64 down = u & ~(step - 1);
    return (fraglab_i64)(down == u ? u : down + step);
}

/* round_size (ref §1.2): below 512 -> 512; with d > 1 divisions for the
 * size's interval and n > 512 d, power-of-two division rounding; otherwise
 * up to the next multiple of 512. */
fraglab_i64 policy_round_size(fraglab_i64 size, fraglab_i32 stream,
                              fraglab_i32 tag) {
    if (size < MIN_BLOCK_SIZE)
        return MIN_BLOCK_SIZE;
    fraglab_i64 d = power2_divisions(size);
    if (d > 1 && size > MIN_BLOCK_SIZE * d)
        return power2_next_division(size, d);
    return (size + MIN_BLOCK_SIZE - 1) / MIN_BLOCK_SIZE * MIN_BLOCK_SIZE;
}

/* get_pool (ref §1.4): rounded <= 1 MiB -> small pool, else large pool. */
fraglab_i64 policy_choose_pool(fraglab_i64 rounded, fraglab_i32 stream,
                               fraglab_i32 tag) {
    return rounded <= SMALL_SIZE ? FRAGLAB_POOL_SMALL : FRAGLAB_POOL_LARGE;
}

/* get_free_block (ref §2). The host offers the pool's blocks on this stream
 * that fit, best fit first; PyTorch takes the first, except that in an
 * expandable segment it moves on while the next block's expandable size
 * (size plus the unmapped range after it) is smaller, preferring blocks
 * that cannot grow. Then the max_split_size rules reject the block: (a) an
 * oversize block for a request below max_split_size, (b) for an oversize
 * request, a block at least max_non_split_rounding larger. */
fraglab_i64 policy_pick_block(fraglab_i32 n, fraglab_i64 rounded,
                              fraglab_i32 pool, fraglab_i32 stream,
                              fraglab_i32 tag) {
    const fraglab_candidate *c = fraglab_candidates();
    fraglab_i32 i = 0;
    while ((c[i].flags & FRAGLAB_FLAG_EXPANDABLE) && i + 1 < n &&
           c[i + 1].expandable_size < c[i].expandable_size)
        i++;
    fraglab_i64 size = (fraglab_i64)c[i].size;
    if (rounded < settings.max_split_size && size >= settings.max_split_size)
        return FRAGLAB_NONE; /* rule (a) */
    if (rounded >= settings.max_split_size &&
        size >= rounded + settings.max_non_split_rounding)
        return FRAGLAB_NONE; /* rule (b) */
    return i;
}

/* should_split (ref §3.1), r = block_size - rounded: small pool or
 * expandable, split iff r >= 512; large pool, iff rounded < max_split_size
 * and r > 1 MiB. The front piece is the request. */
fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    fraglab_i64 remaining = block_size - rounded;
    int split;
    if (pool == FRAGLAB_POOL_SMALL || settings.expandable_segments ||
        (flags & FRAGLAB_FLAG_EXPANDABLE))
        split = remaining >= MIN_BLOCK_SIZE;
    else
        split = rounded < settings.max_split_size && remaining > SMALL_SIZE;
    return split ? rounded : block_size;
}

/* get_allocation_size (ref §1.5): rounded <= 1 MiB -> 2 MiB; < 10 MiB ->
 * large_segment_size (20 MiB); else rounded up to a multiple of 2 MiB. */
fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag) {
    if (rounded <= SMALL_SIZE)
        return SMALL_BUFFER;
    if (rounded < MIN_LARGE_ALLOC)
        return settings.large_segment_size;
    return (rounded + ROUND_LARGE - 1) / ROUND_LARGE * ROUND_LARGE;
}

/* garbage_collect_cached_blocks (ref §4.3), phase 0. Off unless
 * garbage_collection_threshold t > 0 and memory is limited; PyTorch limits
 * it with a memory fraction, here the device capacity is the limit. When
 * reserved > t * limit, release aged large-pool blocks until
 * reserved - t * limit bytes are freed. */
static fraglab_i64 garbage_collect(void) {
    if (settings.garbage_collection_threshold <= 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    fraglab_i64 limit = fraglab_stat(FRAGLAB_STAT_CAPACITY, 0);
    if (limit < 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    fraglab_i64 threshold =
        (fraglab_i64)(settings.garbage_collection_threshold * (double)limit);
    fraglab_i64 reserved = fraglab_stat(FRAGLAB_STAT_RESERVED, 0);
    if (reserved <= threshold)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_AGED, reserved - threshold);
}

/* The allocation-failure path of malloc (ref §4.1 step 4): phase 0 is
 * step 4a (GC). In phase 1, after the failed first cudaMalloc (4b), each
 * attempt is the next step: release_available_cached_blocks (4d, only when
 * max_split_size is set), then release_cached_blocks (4e), then OOM (5). */
fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt) {
    if (phase == FRAGLAB_PHASE_BEFORE_GROW)
        return garbage_collect();
    if (phase != FRAGLAB_PHASE_GROW_FAILED)
        return FRAGLAB_DEFER; /* a phase of a later ABI minor */
    fraglab_i32 step = attempt;
    if (settings.max_split_size != UNLIMITED) {
        if (step == 0)
            return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_OVERSIZE,
                                   settings.max_split_size);
        step--;
    }
    if (step == 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_CACHED, 0);
    return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
}
