/*
 * rmm-pool: RAPIDS RMM's pool_memory_resource growth, as a built-in. The
 * pool grows by max(request, current pool size), so it doubles, and never
 * gives memory back on its own.
 *
 * policy_segment_size: max(rounded, reserved bytes) rounded up to a multiple
 * of 2 MiB (reserved = stat 1, every pool), at most 2^48.
 * policy_release: nothing, in every phase and attempt: a growth that fails
 * is an OOM. The trace's own empty_cache events still release free
 * segments: that is the host's empty_cache, not a policy decision.
 *
 * Every other decision is the host default (sdk/ABI.md §4).
 *
 * Build (from policies/rmm-pool): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

#define GROW_ALIGN (2 * FRAGLAB_MIB)

fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag) {
    fraglab_i64 size = rounded;
    fraglab_i64 reserved = fraglab_stat(FRAGLAB_STAT_RESERVED, 0);
    if (reserved > size)
        size = reserved;
    if (size > FRAGLAB_MAX_SIZE)
        size = FRAGLAB_MAX_SIZE;
    size = fraglab_align_up(size, GROW_ALIGN);
    if (size > FRAGLAB_MAX_SIZE) /* 2^48 is a multiple of 2 MiB */
        size = FRAGLAB_MAX_SIZE;
    return size < rounded ? rounded : size;
}

fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt) {
    return FRAGLAB_ACT_NOTHING;
}
