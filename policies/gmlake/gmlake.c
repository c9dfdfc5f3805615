/*
 * gmlake: GMLake's defragmenting allocator (Guo et al., "GMLake: Efficient
 * and Transparent GPU Memory Defragmentation for Large-scale DNN Training
 * with Virtual Memory Stitching", ASPLOS '24; the authors' implementation
 * is the GLake repository's GMLake/ patch of PyTorch's caching allocator),
 * written against the host's stitching mechanism of ABI 1.5
 * (sdk/ABI.md §3.7). See README.md for what is modelled and what differs.
 *
 * Rules:
 *   - the small pool (pool 0, requests <= 1 MiB) is PyTorch's classic
 *     caching allocator (2 MiB segments, split at 512 B remainders);
 *   - the large pools are built from 2 MiB physical pages, as GMLake's
 *     primitive blocks: one expandable segment per (pool, stream) grown
 *     page by page;
 *   - a request of at least frag_limit_mb that no free block fits is
 *     served by stitching free pages of the pool into one new virtual
 *     range (GMLake's state S3), new pages mapped for what the free ones
 *     lack (S4, FRAGLAB_STITCH_GROW), before growing (defrag_level 0,
 *     GMLake's default "greedy") or only after growing failed
 *     (defrag_level 1, "lazy");
 *   - stitched blocks stay mapped and cached after their free (GMLake's
 *     sBlocks), and a request reuses one by best fit over stitched and
 *     primitive blocks, but only a stitched block at most reuse_limit times
 *     the request (GMLake's reuseLimit);
 *   - when growing fails: tear down free stitched ranges (GMLake's
 *     StitchFree), then release the cached memory (empty_cache), then OOM.
 *
 * Parameters (read in policy_init; the defaults are GMLake's):
 *   frag_limit_mb  stitch only requests of at least this many MiB (512)
 *   reuse_limit    a cached stitched block serves a request only when it
 *                  is at most this many times the request (10, >= 1)
 *   defrag_level   0: stitch before growing; 1: only when growing failed
 *   stitch_keep    1: keep freed stitched blocks cached (GMLake's sBlocks);
 *                  0: tear a stitched range down at its block's free (1)
 *   small_expandable  1: the small pool too is one expandable segment per
 *                  stream in 2 MiB pages; 0: PyTorch's classic small
 *                  pool, as GMLake keeps it (0)
 *
 * Build (from policies/gmlake): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1_5();

#define PAGE (2 * FRAGLAB_MIB)
#define WINDOW 8

FRAGLAB_SCRATCH(WINDOW * FRAGLAB_RECORD_SIZE);

static fraglab_i64 frag_limit = 512 * FRAGLAB_MIB;
static double reuse_limit = 10;
static fraglab_i64 defrag_level = 0;
static fraglab_i64 small_expandable = 0;

/* The error text of policy_init. */
static fraglab_text why;

fraglab_i64 policy_init(void) {
    fraglab_i64 limit_mb = fraglab_param_i64("frag_limit_mb", 512);
    double reuse = fraglab_param_f64("reuse_limit", 10);
    fraglab_i64 level = fraglab_param_i64("defrag_level", 0);
    fraglab_i64 keep = fraglab_param_i64("stitch_keep", 1);
    fraglab_i64 small = fraglab_param_i64("small_expandable", 0);
    if (limit_mb < 0 || limit_mb > (1LL << 28))
        return fraglab_param_error(&why, "frag_limit_mb", limit_mb, "must be 0 to 2^28");
    if (!(reuse >= 1 && reuse <= 1e6))
        return fraglab_param_error(&why, "reuse_limit", (fraglab_i64)reuse,
                         "must be 1 to 1e6");
    if (level != 0 && level != 1)
        return fraglab_param_error(&why, "defrag_level", level, "must be 0 or 1");
    if (keep != 0 && keep != 1)
        return fraglab_param_error(&why, "stitch_keep", keep, "must be 0 or 1");
    if (small != 0 && small != 1)
        return fraglab_param_error(&why, "small_expandable", small, "must be 0 or 1");
    small_expandable = small;
    frag_limit = limit_mb * FRAGLAB_MIB;
    reuse_limit = reuse;
    defrag_level = level;
    fraglab_config(FRAGLAB_CONFIG_CANDIDATE_WINDOW, WINDOW);
    fraglab_config(FRAGLAB_CONFIG_STITCH_KEEP, keep);
    return 0;
}

/* Small pool: classic segments (PyTorch); large pools: one expandable
 * segment per (pool, stream) in 2 MiB pages, GMLake's primitive blocks. */
fraglab_i64 policy_segment_mode(fraglab_i32 pool, fraglab_i32 stream) {
    return pool == FRAGLAB_POOL_SMALL && !small_expandable ? 0 : PAGE;
}

/* Split at remainders of at least 512 B everywhere: PyTorch's rule for
 * the small pool and for expandable segments. The host never splits a
 * stitched block (GMLake does not split a fused block either). */
fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    return block_size - rounded >= FRAGLAB_BLOCK_ALIGN ? rounded : block_size;
}

/* Best fit over primitive and stitched blocks (the host's candidates come
 * smallest first): the first candidate, skipping stitched blocks larger
 * than reuse_limit times the request. When every candidate of a full
 * window is skipped, take none (the host then stitches or grows). */
fraglab_i64 policy_pick_block(fraglab_i32 n, fraglab_i64 rounded,
                              fraglab_i32 pool, fraglab_i32 stream,
                              fraglab_i32 tag) {
    const fraglab_candidate *c = fraglab_candidates();
    double most = reuse_limit * (double)rounded;
    for (fraglab_i32 i = 0; i < n; i++) {
        if ((c[i].flags & FRAGLAB_FLAG_STITCHED) && (double)c[i].size > most)
            continue;
        return i;
    }
    return FRAGLAB_NONE;
}

static int stitches(fraglab_i64 rounded, fraglab_i32 pool) {
    return pool != FRAGLAB_POOL_SMALL && rounded >= frag_limit;
}

/* Phase 0 (no free block fits): stitch a large request (defrag_level 0).
 * Phase 1 (growing failed), one step per attempt: stitch (defrag_level
 * 1), tear down the free stitched ranges, release every cached segment,
 * then OOM. A failed stitch releases nothing, and the host goes on. */
fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt) {
    if (phase == FRAGLAB_PHASE_BEFORE_GROW) {
        if (attempt == 0 && defrag_level == 0 && stitches(rounded, pool))
            return FRAGLAB_RELEASE(FRAGLAB_ACT_STITCH, FRAGLAB_STITCH_GROW);
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    }
    if (phase != FRAGLAB_PHASE_GROW_FAILED)
        return FRAGLAB_DEFER;
    fraglab_i32 step = attempt;
    if (defrag_level == 1 && stitches(rounded, pool)) {
        if (step == 0)
            return FRAGLAB_RELEASE(FRAGLAB_ACT_STITCH, FRAGLAB_STITCH_GROW);
        step--;
    }
    if (step == 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_STITCHED, 0);
    if (step == 1)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_CACHED, 0);
    return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
}
