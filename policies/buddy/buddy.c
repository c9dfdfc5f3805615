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
 *   - policy_merge: merges a freed block only with its buddy: a free
 *     neighbour of the same size such that the lower of the two lies at an
 *     offset in their segment that is a multiple of twice the size. The
 *     offsets are ABI 1.2's merge stats (FRAGLAB_STAT_MERGE_*_OFFSET);
 *   - policy_init: asks for repeated merges (ABI 1.2, config key 3), so a
 *     free coalesces buddies up to the largest free block, as a buddy
 *     allocator does: a wholly free segment is one block again.
 *
 * Pools, search order (best fit), releases: host defaults. No parameters.
 * Build (from policies/buddy): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1_2();

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

fraglab_i64 policy_init(void) {
    if (fraglab_config(FRAGLAB_CONFIG_MERGE_REPEAT, 1) != 1)
        return fraglab_error("config(merge_repeat, 1) refused: buddy needs an "
                             "ABI 1.2 host");
    return 0;
}

fraglab_i64 policy_merge(fraglab_i64 block_size, fraglab_i64 neighbour_size,
                         fraglab_i32 pool, fraglab_i32 side) {
    if (block_size != neighbour_size)
        return 0;
    fraglab_i64 lower = fraglab_stat(side == FRAGLAB_SIDE_PREV
                                         ? FRAGLAB_STAT_MERGE_NEIGHBOUR_OFFSET
                                         : FRAGLAB_STAT_MERGE_BLOCK_OFFSET,
                                     0);
    if (lower < 0)
        return fraglab_error("no merge offset (stat 15/16): buddy needs an "
                             "ABI 1.2 host");
    return lower % (2 * block_size) == 0 ? 1 : 0;
}
