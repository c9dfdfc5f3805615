/*
 * size-class: size-class rounding in the style of RAPIDS RMM's arena
 * memory resource (rmm::mr::arena_memory_resource, its size classes; see
 * README.md), as a built-in. The rules are those of the SDK example
 * sdk/c/example/sizeclass.c.
 *
 * Requests round up to size classes, classes_per_doubling of them per
 * power of two, and blocks outside the small pool are split only when the
 * remainder is worth it.
 *
 * Parameters (read in policy_init):
 *   classes_per_doubling  size classes per power of two: 1, 2, 4, 8 or 16
 *                         (default 4)
 *   split_min_mb          the smallest remainder, in MiB, worth splitting off
 *                         a block in pools other than 0 (default 4, >= 1)
 *
 * Hooks: policy_init, policy_round_size and policy_split. Every other
 * decision is the host default (sdk/ABI.md §4).
 *
 * Build (from policies/size-class): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

static fraglab_i64 classes_per_doubling = 4;
static fraglab_i64 split_min_mb = 4;

/* The error text of policy_init. */
static fraglab_text why;

fraglab_i64 policy_init(void) {
    fraglab_i64 classes = fraglab_param_i64("classes_per_doubling", 4);
    fraglab_i64 split_min = fraglab_param_i64("split_min_mb", 4);
    if (classes != 1 && classes != 2 && classes != 4 && classes != 8 &&
        classes != 16) {
        fraglab_text_clear(&why);
        fraglab_text_put(&why, "classes_per_doubling=");
        fraglab_text_put_i64(&why, classes);
        fraglab_text_put(&why, ": must be 1, 2, 4, 8 or 16");
        return fraglab_text_error(&why);
    }
    if (split_min < 1) {
        fraglab_text_clear(&why);
        fraglab_text_put(&why, "split_min_mb=");
        fraglab_text_put_i64(&why, split_min);
        fraglab_text_put(&why, ": must be \xe2\x89\xa5 1"); /* U+2265 ≥ */
        return fraglab_text_error(&why);
    }
    classes_per_doubling = classes;
    split_min_mb = split_min;
    return 0;
}

/* Sizes up to 512 take one block of 512; a power of two is its own class;
 * any other size rounds up to the next of classes_per_doubling equal steps
 * between the powers of two around it (steps of at least 512). Unsigned
 * arithmetic: no undefined behaviour, whatever the host passes. */
fraglab_i64 policy_round_size(fraglab_i64 size, fraglab_i32 stream,
                              fraglab_i32 tag) {
    if (size <= FRAGLAB_BLOCK_ALIGN)
        return FRAGLAB_BLOCK_ALIGN;
    fraglab_u64 u = (fraglab_u64)size;
    if ((u & (u - 1)) == 0)
        return size;
    fraglab_u64 floor_pow2 = (fraglab_u64)1 << (63 - __builtin_clzll(u));
    fraglab_u64 step = floor_pow2 / (fraglab_u64)classes_per_doubling;
    if (step < FRAGLAB_BLOCK_ALIGN)
        step = FRAGLAB_BLOCK_ALIGN;
    /* step is a power of two: round up with a mask. */
    return (fraglab_i64)((u + step - 1) & ~(step - 1));
}

/* Answers the front piece: `rounded` splits the rest off as a free block,
 * `block_size` keeps the block whole. Pool 0 splits any remainder of at
 * least 512 bytes; other pools only one of at least split_min_mb MiB
 * (compared as floor(remainder / MiB) >= split_min_mb, which is the same and
 * cannot overflow; >> of a negative value is arithmetic in clang). */
fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    fraglab_i64 rest = (fraglab_i64)((fraglab_u64)block_size - (fraglab_u64)rounded);
    if (pool == FRAGLAB_POOL_SMALL)
        return rest >= FRAGLAB_BLOCK_ALIGN ? rounded : block_size;
    return (rest >> 20) >= split_min_mb ? rounded : block_size;
}
