/*
 * buddy: a binary buddy allocator (Knowlton 1965; Knuth, TAOCP vol. 1,
 * §2.5) on fraglab's host mechanism.
 *
 *   - policy_round_size: every request rounds up to the next power of two,
 *     at least 512 bytes;
 *   - policy_segment_size: each segment is a power of two, at least 2 MiB
 *     and at least the rounded request (the buddy system's "top block");
 *   - policy_split: halving. The answer is block_size/2 while that still
 *     holds the rounded request, else block_size (no split). The host asks
 *     again with the front piece (sdk/ABI.md §3.2 step 6), so one
 *     allocation halves the block down to the smallest power of two that
 *     holds the request, leaving one free buddy of each size behind;
 *   - policy_merge: merges a freed block only with a neighbour of the same
 *     size.
 *
 * Approximation (see README.md): policy_merge receives the two sizes, the
 * pool and the side, but no address, so the module cannot tell a buddy from
 * an equal-size neighbour that is not its buddy. The exact rule needs the
 * lower block's offset in its segment (merge only when it is a multiple of
 * twice the size). The host also asks once per side, so a free merges at
 * most two levels. Every block size is still a power of two.
 *
 * Pools, search order (best fit), releases: host defaults. No parameters.
 * Build (from policies/buddy): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

/* The smallest power of two >= v, for 0 < v <= 2^48. */
static fraglab_u64 pow2_ceil(fraglab_u64 v) {
    if (v <= 1)
        return 1;
    return (fraglab_u64)1 << (64 - __builtin_clzll(v - 1));
}

fraglab_i64 policy_round_size(fraglab_i64 size, fraglab_i32 stream,
                              fraglab_i32 tag) {
    if (size <= FRAGLAB_BLOCK_ALIGN)
        return FRAGLAB_BLOCK_ALIGN;
    return (fraglab_i64)pow2_ceil((fraglab_u64)size);
}

fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag) {
    fraglab_u64 s = pow2_ceil((fraglab_u64)rounded);
    if (s < (fraglab_u64)(2 * FRAGLAB_MIB))
        s = (fraglab_u64)(2 * FRAGLAB_MIB);
    return (fraglab_i64)s;
}

fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    fraglab_i64 half = block_size / 2;
    if (half >= rounded && half % FRAGLAB_BLOCK_ALIGN == 0)
        return half;
    return block_size;
}

fraglab_i64 policy_merge(fraglab_i64 block_size, fraglab_i64 neighbour_size,
                         fraglab_i32 pool, fraglab_i32 side) {
    return block_size == neighbour_size ? 1 : 0;
}
