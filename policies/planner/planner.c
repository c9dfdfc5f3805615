/*
 * planner: an offline planner (ABI 1.5 planning, sdk/ABI.md §3.8) over
 * PyTorch's caching allocator rules.
 *
 * Before the replay the host hands policy_plan every allocation of the
 * workload with its lifetime (the event indices of its allocation and of
 * its free). The planner lays the allocations of the default memory pool
 * out in one arena, as the dynamic storage allocation problem over their
 * interval graph asks: two allocations whose lifetimes overlap must not
 * share bytes. It places them greedily, each at the lowest offset where it
 * fits against the already placed allocations whose lifetimes overlap its
 * own (STAlloc, 2025; MiniMalloc, Moffitt, ASPLOS '23, use such greedy
 * layouts as their baseline or first step), in four orders: by size
 * descending, by size × lifetime descending, by lifetime descending, and in
 * event order; it keeps the layout with the smallest arena. policy_place then answers each
 * planned allocation's offset; everything else (allocations of private
 * pools, those past max_plan, and any whose rounded size differs from the
 * planned one) follows PyTorch's rules: this file includes
 * ../pytorch/pytorch.c, every knob of which it accepts.
 *
 * Parameters: max_plan (default 200000), the most allocations planned;
 * when there are more, the largest are planned. stitch (default 0): 1
 * stitches, for what is not placed, a large-pool request that growing
 * could not serve from the free pages of its expandable segment, new
 * pages mapped for the rest (GMLake's S3 and S4, ABI §3.7), before
 * PyTorch's release steps; stitched ranges are torn down at their free.
 * It needs expandable_segments. Plus every knob of the pytorch policy
 * (policies/pytorch/README.md).
 *
 * Memory: the records and the layouts are kept in linear memory grown as
 * needed, about 100 bytes per planned allocation.
 *
 * Build (from policies/planner): see ../build.sh.
 */
#include "fraglab.h"

/* Plan records (ABI 1.5, sdk/abi PlanRecord): 48 bytes each, at most 256
 * per policy_plan call. */
#define PLAN_RECORD_SIZE 48
#define PLAN_BATCH       256
#define PLAN_NEVER       (~(fraglab_u64)0)

/* The scratch area holds a batch of plan records, more than pytorch's 8
 * candidates. */
FRAGLAB_SCRATCH(PLAN_BATCH * PLAN_RECORD_SIZE);

#define PYTORCH_AS_LIBRARY 1
#include "../pytorch/pytorch.c"

FRAGLAB_EXPORT(fraglab_abi_v1_5) void fraglab_abi_v1_5(void);
void fraglab_abi_v1_5(void) {}

FRAGLAB_EXPORT(policy_plan)
fraglab_i64 policy_plan(fraglab_i32 count, fraglab_i32 done);
FRAGLAB_EXPORT(policy_place)
fraglab_i64 policy_place(fraglab_i64 id, fraglab_i64 rounded, fraglab_i32 pool,
                         fraglab_i32 stream, fraglab_i32 tag);

typedef __UINT32_TYPE__ u32;
typedef fraglab_u64 u64;

#define NO_OFFSET (~(u64)0)

/* One allocation of the workload, as policy_plan received it. */
struct rec {
    u64 id;
    u64 size; /* the request rounded up to 512 bytes, as PyTorch rounds */
    u32 alloc; /* event index of the allocation */
    u32 free;  /* event index of the free; end_time when never freed */
    u32 pool;  /* private pool; 0: the default pool */
    u32 pad;
};

static fraglab_i64 max_plan;
static fraglab_i64 stitch;

/* ------------------------------------------------------------------------
 * Linear memory: a bump allocator over memory grown on demand. The records
 * are appended while policy_plan receives them, so nothing else is
 * allocated before the last batch.
 */
extern unsigned char __heap_base;
static unsigned long heap_top;

static void *grab(unsigned long bytes) {
    if (heap_top == 0)
        heap_top = (unsigned long)&__heap_base;
    heap_top = (heap_top + 7) & ~7ul;
    unsigned long end = heap_top + bytes;
    unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
    if (end > have &&
        __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == -1ul)
        return 0;
    void *p = (void *)heap_top;
    heap_top = end;
    return p;
}

static struct rec *recs; /* every record, in event order */
static u32 nrecs;
static u32 end_time; /* past every event index of the records */
static u64 *offset;  /* per record: its offset in the arena, or NO_OFFSET */
static u32 cursor;   /* policy_place's position in recs */

/* ------------------------------------------------------------------------
 * Sorting: a stable merge sort of record indices by a comparison.
 */
typedef int (*less_fn)(u32 a, u32 b);

static void merge_sort(u32 *v, u32 *tmp, u32 n, less_fn less) {
    for (u32 w = 1; w < n; w *= 2) {
        for (u32 lo = 0; lo < n; lo += 2 * w) {
            u32 mid = lo + w < n ? lo + w : n;
            u32 hi = lo + 2 * w < n ? lo + 2 * w : n;
            u32 i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = less(v[j], v[i]) ? v[j++] : v[i++];
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
        }
        for (u32 i = 0; i < n; i++)
            v[i] = tmp[i];
    }
}

static u64 lifetime(u32 i) { return (u64)(recs[i].free - recs[i].alloc); }

static int by_size(u32 a, u32 b) {
    if (recs[a].size != recs[b].size)
        return recs[a].size > recs[b].size;
    return a < b;
}

static int by_area(u32 a, u32 b) {
    /* size × lifetime, as doubles: the product can pass 2^64 */
    double x = (double)recs[a].size * (double)lifetime(a);
    double y = (double)recs[b].size * (double)lifetime(b);
    if (x != y)
        return x > y;
    return a < b;
}

static int by_lifetime(u32 a, u32 b) {
    if (lifetime(a) != lifetime(b))
        return lifetime(a) > lifetime(b);
    return a < b;
}

static int by_event(u32 a, u32 b) { return a < b; }

/* ------------------------------------------------------------------------
 * The placed allocations of the layout being built, two ways:
 *
 *   - byoff: the placed records sorted by offset (then record index), kept
 *     sorted by insertion;
 *   - a max tree over the free times of the placed records, indexed by
 *     record (that is, by allocation time). Record j overlaps record i in
 *     time iff alloc_j < free_i and free_j > alloc_i; records are in
 *     allocation order, so the first condition is j < J, and the tree finds
 *     the placed j < J with free_j > alloc_i visiting only subtrees that
 *     hold one, in O((k + 1) log n) for k found.
 *
 * The gap search needs the k records overlapping the new one in offset
 * order: when k log k is small against the number placed, it sorts the k
 * found; otherwise it walks byoff and skips the records that do not
 * overlap. Either way it costs O(min(k log k, placed)) per placement, plus
 * O(placed) to keep byoff sorted, which is why byoff is kept only for
 * workloads of at most BYOFF_MAX records.
 */
#define BYOFF_MAX (1u << 15)
static u64 *cur_off; /* per record: offset in the layout being built */
static u32 *byoff;   /* placed records by offset */
static u32 nplaced;

static int off_less(u32 a, u32 b) {
    return cur_off[a] != cur_off[b] ? cur_off[a] < cur_off[b] : a < b;
}

/* insert_by_offset puts record i into byoff at its place. */
static void insert_by_offset(u32 i) {
    u32 lo = 0, hi = nplaced;
    while (lo < hi) {
        u32 mid = lo + (hi - lo) / 2;
        if (off_less(byoff[mid], i))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (u32 k = nplaced; k > lo; k--)
        byoff[k] = byoff[k - 1];
    byoff[lo] = i;
    nplaced++;
}

static u32 *tree; /* 2 * leaves; tree[leaves + j] = free_j + 1 when placed, else 0 */
static u32 leaves;

static void tree_set(u32 j, u32 v) {
    u32 k = leaves + j;
    tree[k] = v;
    for (k /= 2; k >= 1; k /= 2) {
        u32 l = tree[2 * k], r = tree[2 * k + 1];
        tree[k] = l > r ? l : r;
    }
}

static u32 *found; /* records found by tree_find */
static u32 nfound;

/* tree_find collects the placed j in [0, limit) of node k (covering
 * [lo, lo + width)) with free_j > after. */
static void tree_find(u32 k, u32 lo, u32 width, u32 limit, u32 after) {
    if (lo >= limit || tree[k] <= after + 1)
        return;
    if (width == 1) {
        found[nfound++] = lo;
        return;
    }
    tree_find(2 * k, lo, width / 2, limit, after);
    tree_find(2 * k + 1, lo + width / 2, width / 2, limit, after);
}

/* first_at_or_after: the first record allocated at or after event t. */
static u32 first_at_or_after(u32 t) {
    u32 lo = 0, hi = nrecs;
    while (lo < hi) {
        u32 mid = lo + (hi - lo) / 2;
        if (recs[mid].alloc < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int overlaps(u32 i, u32 j) {
    return recs[j].alloc < recs[i].free && recs[j].free > recs[i].alloc;
}

static u32 log2_ceil(u32 n) {
    u32 l = 0;
    while ((1u << l) < n && l < 31)
        l++;
    return l;
}

/* layout places the m records of order, in that order, each at the lowest
 * offset where it fits against the placed records that overlap it in
 * time; it writes the offsets to cur_off and returns the arena size. */
static u64 layout(const u32 *order, u32 m, u32 *tmp) {
    for (u32 k = 0; k < 2 * leaves; k++)
        tree[k] = 0;
    nplaced = 0;
    u64 arena = 0;
    for (u32 n = 0; n < m; n++) {
        u32 i = order[n];
        nfound = 0;
        tree_find(1, 0, leaves, first_at_or_after(recs[i].free), recs[i].alloc);
        const u32 *v = found;
        u32 nv = nfound;
        int filter = 0;
        if (nrecs > BYOFF_MAX || (u64)nfound * log2_ceil(nfound + 1) <= nplaced)
            merge_sort(found, tmp, nfound, off_less);
        else
            v = byoff, nv = nplaced, filter = 1;
        u64 at = 0, size = recs[i].size;
        for (u32 f = 0; f < nv; f++) {
            u32 j = v[f];
            if (filter && !overlaps(i, j))
                continue;
            if (cur_off[j] >= at + size)
                break; /* the gap below j holds it */
            u64 end = cur_off[j] + recs[j].size;
            if (end > at)
                at = end;
        }
        cur_off[i] = at;
        if (at + size > arena)
            arena = at + size;
        tree_set(i, recs[i].free + 1);
        if (nrecs <= BYOFF_MAX)
            insert_by_offset(i);
    }
    return arena;
}

/* plan computes the layout of the planned records; it returns the arena
 * size, or -1 when memory ran out. */
static fraglab_i64 plan(void) {
    u32 m = 0;
    u32 *order = grab(sizeof(u32) * (nrecs + 1));
    u32 *tmp = grab(sizeof(u32) * (nrecs + 1));
    offset = grab(sizeof(u64) * (nrecs + 1));
    u64 *layout_off = grab(sizeof(u64) * (nrecs + 1));
    found = grab(sizeof(u32) * (nrecs + 1));
    byoff = grab(sizeof(u32) * (nrecs + 1));
    for (leaves = 1; leaves < nrecs; leaves *= 2)
        ;
    tree = grab(sizeof(u32) * 2 * leaves);
    if (!order || !tmp || !offset || !layout_off || !found || !byoff || !tree)
        return -1;
    for (u32 i = 0; i < nrecs; i++) {
        offset[i] = NO_OFFSET;
        layout_off[i] = NO_OFFSET;
        if (recs[i].pool == 0)
            order[m++] = i;
    }
    if ((fraglab_i64)m > max_plan) { /* plan the largest */
        merge_sort(order, tmp, m, by_size);
        m = (u32)max_plan;
    }
    if (m == 0)
        return 0;
    static const less_fn orders[4] = {by_size, by_area, by_lifetime, by_event};
    u64 best = 0;
    cur_off = layout_off;
    for (int o = 0; o < 4; o++) {
        merge_sort(order, tmp, m, orders[o]);
        u64 arena = layout(order, m, tmp);
        if (o == 0 || arena < best) {
            best = arena;
            for (u32 n = 0; n < m; n++)
                offset[order[n]] = layout_off[order[n]];
        }
    }
    return (fraglab_i64)best;
}

/* ------------------------------------------------------------------------
 * Hooks.
 */

fraglab_i64 policy_init(void) {
    max_plan = fraglab_param_i64("max_plan", 200000);
    if (max_plan < 0 || max_plan > 0x7fffffff)
        return fraglab_error("planner: max_plan must be between 0 and 2147483647");
    stitch = fraglab_param_i64("stitch", 0);
    if (stitch != 0 && stitch != 1)
        return fraglab_error("planner: stitch must be 0 or 1");
    fraglab_i64 r = pytorch_init();
    if (r != 0)
        return r;
    if (stitch && !settings.expandable_segments)
        return fraglab_error("planner: stitch=1 needs expandable_segments=1 (a stitch maps the pages of expandable segments)");
    return 0;
}

/* PyTorch's release steps; with stitch, a large-pool request that growing
 * could not serve is first stitched (attempt 0), and PyTorch's steps
 * follow from attempt 1. */
fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt) {
    if (!stitch || phase != FRAGLAB_PHASE_GROW_FAILED || pool == FRAGLAB_POOL_SMALL)
        return pytorch_release(phase, rounded, pool, stream, attempt);
    if (attempt == 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_STITCH, FRAGLAB_STITCH_GROW);
    return pytorch_release(phase, rounded, pool, stream, attempt - 1);
}

static u64 get64(const unsigned char *p) {
    u64 v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static u32 get32(const unsigned char *p) {
    return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

fraglab_i64 policy_plan(fraglab_i32 count, fraglab_i32 done) {
    const unsigned char *b = fraglab_scratch_area;
    if (count < 0 || count > PLAN_BATCH)
        return fraglab_error("planner: a batch of more than 256 records");
    struct rec *r = grab(sizeof(struct rec) * (unsigned long)count);
    if (count > 0 && !r)
        return fraglab_error("planner: out of memory for the plan records");
    if (!recs)
        recs = r;
    for (fraglab_i32 k = 0; k < count; k++, b += PLAN_RECORD_SIZE) {
        struct rec *e = &recs[nrecs++];
        u64 size = get64(b + 8), alloc = get64(b + 16), free = get64(b + 24);
        if (alloc >= 0xfffffff0u || (free != PLAN_NEVER && free >= 0xfffffff0u))
            return fraglab_error("planner: event indices past 2^32");
        e->id = get64(b);
        e->size = size < MIN_BLOCK_SIZE ? MIN_BLOCK_SIZE
                                        : (size + MIN_BLOCK_SIZE - 1) / MIN_BLOCK_SIZE * MIN_BLOCK_SIZE;
        e->alloc = (u32)alloc;
        e->free = free == PLAN_NEVER ? 0xffffffffu : (u32)free;
        e->pool = get32(b + 40);
        if (e->alloc + 1 > end_time)
            end_time = e->alloc + 1;
        if (free != PLAN_NEVER && e->free + 1 > end_time)
            end_time = e->free + 1;
    }
    if (!done)
        return 0;
    for (u32 i = 0; i < nrecs; i++)
        if (recs[i].free == 0xffffffffu)
            recs[i].free = end_time;
    fraglab_i64 arena = plan();
    if (arena < 0)
        return fraglab_error("planner: out of memory for the layouts");
    return arena;
}

/* The planned offset of the next allocation of this id, in event order;
 * DEFER (PyTorch's rules) when it was not planned or its rounded size is
 * not the planned one. */
fraglab_i64 policy_place(fraglab_i64 id, fraglab_i64 rounded, fraglab_i32 pool,
                         fraglab_i32 stream, fraglab_i32 tag) {
    u32 k = cursor;
    while (k < nrecs && (recs[k].pool != 0 || recs[k].id != (u64)id))
        k++;
    if (k == nrecs)
        return FRAGLAB_DEFER;
    cursor = k + 1;
    if (offset[k] == NO_OFFSET || (u64)rounded != recs[k].size)
        return FRAGLAB_DEFER;
    return (fraglab_i64)offset[k];
}
