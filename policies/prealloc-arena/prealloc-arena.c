/*
 * prealloc-arena: one big region reserved at the first growth, in the style
 * of vLLM's and JAX's preallocation, as a built-in.
 *
 * policy_choose_pool: pool 1 for every request, so small and large
 * allocations share the arena (pools never serve each other).
 * policy_split: split off the request whenever the remainder is at least
 * 512 bytes, as an arena carves any size.
 * policy_segment_size: the first growth answers max(arena, rounded) rounded
 * up to 2 MiB; every later growth (the arena is full, or another stream
 * grows) the request's own rounded size rounded up to 2 MiB.
 *
 * Parameters (read in policy_init):
 *   arena_mb     the arena's size in MiB (1..2^28); when absent, the arena
 *                is utilization x the device capacity less the bytes
 *                already reserved, or 4096 MiB on a device without one
 *   utilization  the share of the device the arena takes, as vLLM's
 *                gpu_memory_utilization (default 0.9, > 0 and <= 1)
 *
 * Search order, merges and releases are the host defaults (sdk/ABI.md §4):
 * a phase-1 release may give the arena back when it is wholly free.
 *
 * Build (from policies/prealloc-arena): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

#define GROW_ALIGN (2 * FRAGLAB_MIB)
#define MAX_ARENA_MB ((fraglab_i64)1 << 28) /* 2^48 bytes */

#define DEFAULT_ARENA_MB 4096

static fraglab_i64 arena_mb = -1; /* -1: from utilization or the default */
static fraglab_f64 utilization = 0.9;
static int grown;

/* The error text of policy_init. */
static fraglab_text why;

fraglab_i64 policy_init(void) {
    fraglab_i64 mb = fraglab_param_i64("arena_mb", -1);
    fraglab_f64 u = fraglab_param_f64("utilization", 0.9);
    if (mb != -1 && (mb < 1 || mb > MAX_ARENA_MB)) {
        fraglab_text_clear(&why);
        fraglab_text_put(&why, "arena_mb=");
        fraglab_text_put_i64(&why, mb);
        fraglab_text_put(&why, ": must be 1..268435456");
        return fraglab_text_error(&why);
    }
    if (!(u > 0 && u <= 1)) { /* also refuses NaN */
        fraglab_text_clear(&why);
        fraglab_text_put(&why, "utilization: must be > 0 and <= 1");
        return fraglab_text_error(&why);
    }
    arena_mb = mb;
    utilization = u;
    return 0;
}

/* The arena's size in bytes: arena_mb; else, as vLLM sizes its KV cache,
 * utilization x the capacity less what the process already holds, rounded
 * down to 2 MiB; else (no capacity) the default. */
static fraglab_i64 arena_bytes(void) {
    if (arena_mb != -1)
        return arena_mb * FRAGLAB_MIB;
    fraglab_i64 capacity = fraglab_stat(FRAGLAB_STAT_CAPACITY, 0);
    if (capacity <= 0)
        return DEFAULT_ARENA_MB * FRAGLAB_MIB;
    fraglab_i64 share = (fraglab_i64)(utilization * (fraglab_f64)capacity);
    share -= fraglab_stat(FRAGLAB_STAT_RESERVED, 0);
    return share > 0 ? fraglab_align_down(share, GROW_ALIGN) : 0;
}

fraglab_i64 policy_choose_pool(fraglab_i64 rounded, fraglab_i32 stream,
                               fraglab_i32 tag) {
    return FRAGLAB_POOL_LARGE;
}

fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    return block_size - rounded >= FRAGLAB_BLOCK_ALIGN ? rounded : block_size;
}

fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag) {
    fraglab_i64 size = rounded;
    if (!grown) {
        grown = 1;
        fraglab_i64 arena = arena_bytes();
        if (arena > size)
            size = arena;
    }
    size = fraglab_align_up(size, GROW_ALIGN);
    if (size > FRAGLAB_MAX_SIZE) /* 2^48 is a multiple of 2 MiB */
        size = FRAGLAB_MAX_SIZE;
    return size;
}
