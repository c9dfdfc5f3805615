/*
 * lifetime-aware: pools by lifetime, as a built-in. Long-lived allocations
 * (weights, optimizer state, KV cache) get large-pool segments of their own,
 * so they never pin a split segment among short-lived activations.
 *
 * policy_choose_pool: rounded <= 1 MiB -> pool 0 (as PyTorch); otherwise
 * pool 2 for the tags weight (1), optimizer (4) and kv_cache (5), pool 1 for
 * every other tag. Every other decision is the host default (sdk/ABI.md §4).
 *
 * Build (from policies/lifetime-aware): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

#define LONG_LIVED_POOL 2

fraglab_i64 policy_choose_pool(fraglab_i64 rounded, fraglab_i32 stream,
                               fraglab_i32 tag) {
    if (rounded <= FRAGLAB_MIB)
        return FRAGLAB_POOL_SMALL;
    if (tag == FRAGLAB_TAG_WEIGHT || tag == FRAGLAB_TAG_OPTIMIZER ||
        tag == FRAGLAB_TAG_KV_CACHE)
        return LONG_LIVED_POOL;
    return FRAGLAB_POOL_LARGE;
}
