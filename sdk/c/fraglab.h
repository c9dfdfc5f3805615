/*
 * fraglab.h: the C SDK for fraglab policy modules, policy ABI v1.4.
 *
 * sdk/ABI.md is the normative contract; this header restates it in C and
 * mirrors the constants of sdk/abi/abi.go. It is freestanding: no libc, no
 * system headers. Build a policy with
 *
 *   clang --target=wasm32 -O2 -ffreestanding -nostdlib \
 *         -Wl,--no-entry -Wl,--strip-all -I<fraglab>/sdk/c \
 *         -o policy.wasm policy.c
 *
 * -ffreestanding stops clang from turning loops into calls to memset or
 * memcpy, which do not exist without libc (the link then fails with
 * "undefined symbol: memset"); large struct copies still need them, so
 * copy fields instead.
 *
 * A minimal policy:
 *
 *   #include "fraglab.h"
 *
 *   FRAGLAB_ABI_V1();
 *
 *   fraglab_i64 policy_round_size(fraglab_i64 size, fraglab_i32 stream,
 *                                 fraglab_i32 tag) {
 *       return size < 4096 ? 4096 : FRAGLAB_DEFER;
 *   }
 *
 * sdk/c/README.md describes the API; sdk/c/example/sizeclass.c is a
 * complete policy with parameters and error texts.
 *
 * Every hook is declared below with its exact signature and its export
 * name, so defining a hook is enough to export it, and a definition with a
 * wrong signature fails to compile ("conflicting types"). Define hooks at
 * file scope, not static. Compile with -Wmissing-prototypes to be warned
 * about a misspelt hook name (it would otherwise silently not be exported).
 */
#ifndef FRAGLAB_H
#define FRAGLAB_H

#if !defined(__wasm32__)
#error "fraglab.h targets wasm32 only: compile with clang --target=wasm32"
#endif

#ifdef __cplusplus
extern "C" {
#define FRAGLAB_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define FRAGLAB_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ------------------------------------------------------------------------
 * Types: wasm value types in C (ABI §2). Pointers are 32-bit on wasm32, so a
 * `const char *` parameter is an i32 in the module's signature.
 */
typedef __INT32_TYPE__ fraglab_i32;
typedef __UINT32_TYPE__ fraglab_u32;
typedef __INT64_TYPE__ fraglab_i64;
typedef __UINT64_TYPE__ fraglab_u64;
typedef double fraglab_f64;

FRAGLAB_STATIC_ASSERT(sizeof(fraglab_i32) == 4, "fraglab_i32 must be 32 bits");
FRAGLAB_STATIC_ASSERT(sizeof(fraglab_i64) == 8, "fraglab_i64 must be 64 bits");
FRAGLAB_STATIC_ASSERT(sizeof(fraglab_f64) == 8, "fraglab_f64 must be 64 bits");
FRAGLAB_STATIC_ASSERT(sizeof(void *) == 4, "fraglab.h needs 32-bit pointers");

/* ------------------------------------------------------------------------
 * Attributes.
 */

/* FRAGLAB_EXPORT(name): export the function that follows as `name`. The
 * hook prototypes below already carry it, so hook definitions need not; it
 * is for exports a later ABI minor adds before this header knows them. */
#define FRAGLAB_EXPORT(name) __attribute__((export_name(#name)))

/* FRAGLAB_IMPORT(name): the declaration that follows is the host import
 * `name` of module "fraglab" (ABI §5). */
#define FRAGLAB_IMPORT(name) \
    __attribute__((import_module("fraglab"), import_name(#name)))

/* ------------------------------------------------------------------------
 * Version (ABI §1, §8).
 */
/* The ABI this header describes. A module declares the version it needs
 * with its marker, below. */
#define FRAGLAB_ABI_MAJOR 1
#define FRAGLAB_ABI_MINOR 5

/* The version markers. The host never calls them; it only checks the name.
 * A module defines exactly one. */
FRAGLAB_EXPORT(fraglab_abi_v1_0) void fraglab_abi_v1_0(void);
FRAGLAB_EXPORT(fraglab_abi_v1_1) void fraglab_abi_v1_1(void);
FRAGLAB_EXPORT(fraglab_abi_v1_2) void fraglab_abi_v1_2(void);
FRAGLAB_EXPORT(fraglab_abi_v1_3) void fraglab_abi_v1_3(void);
FRAGLAB_EXPORT(fraglab_abi_v1_4) void fraglab_abi_v1_4(void);
FRAGLAB_EXPORT(fraglab_abi_v1_5) void fraglab_abi_v1_5(void);

/* FRAGLAB_ABI_V1(): defines the ABI 1.0 marker, for a module that uses
 * nothing added after 1.0; it runs on every 1.x host. Write it once, at
 * file scope, with a trailing semicolon: `FRAGLAB_ABI_V1();`. */
#define FRAGLAB_ABI_V1()            \
    void fraglab_abi_v1_0(void) {}  \
    extern void fraglab_abi_v1_0(void)

/* FRAGLAB_ABI_V1_1(): defines the ABI 1.1 marker instead, for a module that
 * calls fraglab_config(FRAGLAB_CONFIG_HOOKS, ...); it needs a 1.1 host. */
#define FRAGLAB_ABI_V1_1()          \
    void fraglab_abi_v1_1(void) {}  \
    extern void fraglab_abi_v1_1(void)

/* FRAGLAB_ABI_V1_2(): defines the ABI 1.2 marker instead, for a module that
 * calls fraglab_config(FRAGLAB_CONFIG_MERGE_REPEAT, ...); it needs a 1.2
 * host. (The merge offsets, FRAGLAB_STAT_MERGE_*, need no marker: a 1.2
 * host answers them to every module, an older one FRAGLAB_STAT_UNKNOWN.) */
#define FRAGLAB_ABI_V1_2()          \
    void fraglab_abi_v1_2(void) {}  \
    extern void fraglab_abi_v1_2(void)

/* FRAGLAB_ABI_V1_3(): defines the ABI 1.3 marker instead, for a module that
 * calls fraglab_config(FRAGLAB_CONFIG_RESERVE_LIMIT, ...); it needs a 1.3
 * host. */
#define FRAGLAB_ABI_V1_3()          \
    void fraglab_abi_v1_3(void) {}  \
    extern void fraglab_abi_v1_3(void)

/* FRAGLAB_ABI_V1_4(): defines the ABI 1.4 marker instead, for a module that
 * relies on FRAGLAB_STAT_REQUEST_PRIVATE_POOL, FRAGLAB_STAT_PRIVATE_RESERVED
 * or FRAGLAB_STAT_PENDING_FREE: it needs a 1.4 host, so an older one, which
 * answers those keys FRAGLAB_STAT_UNKNOWN, refuses it. (A 1.4 host answers
 * them to every module; the marker changes nothing else.) */
#define FRAGLAB_ABI_V1_4()          \
    void fraglab_abi_v1_4(void) {}  \
    extern void fraglab_abi_v1_4(void)

/* FRAGLAB_ABI_V1_5(): defines the ABI 1.5 marker instead, for a module that
 * stitches (answers FRAGLAB_ACT_STITCH or FRAGLAB_ACT_RELEASE_STITCHED,
 * calls fraglab_config(FRAGLAB_CONFIG_STITCH_KEEP, ...)) or plans
 * (defines policy_plan and policy_place); it needs a 1.5 host. */
#define FRAGLAB_ABI_V1_5()          \
    void fraglab_abi_v1_5(void) {}  \
    extern void fraglab_abi_v1_5(void)

/* ------------------------------------------------------------------------
 * Hook answers (ABI §2): a non-negative answer is the decision, a negative
 * one a status.
 */
#define FRAGLAB_DEFER (-1) /* use the host default for this one decision */
#define FRAGLAB_NONE  (-2) /* policy_pick_block only: take no cached block */
#define FRAGLAB_ERROR (-3) /* the policy failed; error_set text explains why */

/* Sizes (ABI §2): every size a policy answers is a multiple of
 * FRAGLAB_BLOCK_ALIGN and at most FRAGLAB_MAX_SIZE. */
#define FRAGLAB_BLOCK_ALIGN 512
#define FRAGLAB_MAX_SIZE    ((fraglab_i64)1 << 48)
#define FRAGLAB_KIB         ((fraglab_i64)1 << 10)
#define FRAGLAB_MIB         ((fraglab_i64)1 << 20)
#define FRAGLAB_GIB         ((fraglab_i64)1 << 30)

/* fraglab_align_down(v, a), fraglab_align_up(v, a): v rounded down or up to
 * a multiple of a, which must be a power of two (FRAGLAB_BLOCK_ALIGN, 2 MiB,
 * ...). */
static inline fraglab_i64 fraglab_align_down(fraglab_i64 v, fraglab_i64 a) {
    return v & ~(a - 1);
}
static inline fraglab_i64 fraglab_align_up(fraglab_i64 v, fraglab_i64 a) {
    return (v + a - 1) & ~(a - 1);
}

/* Pools (ABI §2): 0 is PyTorch's small pool, 1 its large pool, 2..7 extra
 * pools; host defaults treat every pool but 0 as large. */
#define FRAGLAB_POOL_SMALL 0
#define FRAGLAB_POOL_LARGE 1
#define FRAGLAB_MAX_POOLS  8

/* Search orders: answers of policy_search_order (ABI §3.2 step 3). */
#define FRAGLAB_ORDER_BEST_FIT 0 /* size ascending, then address */
#define FRAGLAB_ORDER_ADDRESS  1 /* address ascending (first fit) */
#define FRAGLAB_ORDER_LARGEST  2 /* size descending, then address */

/* Block flags: policy_split's `flags` and candidate records (ABI §3.2, §3.4). */
#define FRAGLAB_FLAG_EXPANDABLE    (1 << 0) /* in an expandable segment */
#define FRAGLAB_FLAG_WHOLE_SEGMENT (1 << 1) /* spans its whole segment */
#define FRAGLAB_FLAG_STITCHED      (1 << 2) /* ABI 1.5: in a stitched range */

/* Merge sides: policy_merge's `side` (ABI §3.5). */
#define FRAGLAB_SIDE_PREV 0 /* the free neighbour lies below */
#define FRAGLAB_SIDE_NEXT 1 /* the free neighbour lies above */

/* Release phases: policy_release's `phase` (ABI §3.3). */
#define FRAGLAB_PHASE_BEFORE_GROW 0 /* no cached block fits; about to grow */
#define FRAGLAB_PHASE_GROW_FAILED 1 /* growing failed: the device is full */

/* Release actions (ABI §3.3): answer = arg << FRAGLAB_ACTION_BITS | action. */
#define FRAGLAB_ACT_NOTHING          0 /* nothing (phase 1: OOM) */
#define FRAGLAB_ACT_RELEASE_CACHED   1 /* empty_cache; arg 0 */
#define FRAGLAB_ACT_RELEASE_OVERSIZE 2 /* arg = threshold T > 0 */
#define FRAGLAB_ACT_RELEASE_AGED     3 /* arg = target bytes B > 0 */
/* ABI 1.5 (ABI §3.7): stitching */
#define FRAGLAB_ACT_STITCH           4 /* map free pages of the pool into one range for the request; arg 0 or FRAGLAB_STITCH_GROW */
#define FRAGLAB_ACT_RELEASE_STITCHED 5 /* tear down every free stitched range; arg 0 */
#define FRAGLAB_STITCH_GROW          1 /* arg of FRAGLAB_ACT_STITCH: map new pages for what the free pages lack (GMLake's S4) */
#define FRAGLAB_ACTION_BITS          4
#define FRAGLAB_ACTION_MASK          ((1 << FRAGLAB_ACTION_BITS) - 1)
#define FRAGLAB_MAX_RELEASE_ATTEMPTS 16

/* FRAGLAB_RELEASE(action, arg): a policy_release answer. */
#define FRAGLAB_RELEASE(action, arg) \
    (((fraglab_i64)(arg) << FRAGLAB_ACTION_BITS) | (fraglab_i64)(action))

/* Observe kinds: policy_observe's `kind` (ABI §3.2 step 7). */
#define FRAGLAB_OBSERVE_ALLOC       0 /* allocation served: id, rounded size */
#define FRAGLAB_OBSERVE_FREE        1 /* block freed: id, block size */
#define FRAGLAB_OBSERVE_OOM         2 /* allocation failed: id, rounded size */
#define FRAGLAB_OBSERVE_EMPTY_CACHE 3 /* empty_cache: id 0, bytes released */

/* Stat keys of fraglab_stat (ABI §5.3). */
#define FRAGLAB_STAT_EVENT_INDEX   0  /* trace event index being served */
#define FRAGLAB_STAT_RESERVED      1  /* bytes held from the device */
#define FRAGLAB_STAT_ALLOCATED     2  /* bytes in allocated blocks */
#define FRAGLAB_STAT_REQUESTED     3  /* bytes requested by live allocations */
#define FRAGLAB_STAT_ACTIVE        4  /* active bytes */
#define FRAGLAB_STAT_CAPACITY      5  /* device capacity, -1 when unlimited */
#define FRAGLAB_STAT_DEVICE_FREE   6  /* device bytes free */
#define FRAGLAB_STAT_SEGMENTS      7  /* classic plus expandable segments */
#define FRAGLAB_STAT_POOL_FREE     8  /* arg = pool: bytes in free blocks */
#define FRAGLAB_STAT_POOL_LARGEST  9  /* arg = pool: largest free block */
#define FRAGLAB_STAT_POOL_RESERVED 10 /* arg = pool: reserved bytes */
#define FRAGLAB_STAT_OOMS          11 /* OOMs so far */
#define FRAGLAB_STAT_GRANULARITY   12 /* device granularity in bytes */
#define FRAGLAB_STAT_PEAK_RESERVED 13 /* peak reserved bytes so far */
#define FRAGLAB_STAT_LIVE_BLOCKS   14 /* allocated blocks */
/* ABI 1.2, during policy_merge (-1 elsewhere): offsets in their segment */
#define FRAGLAB_STAT_MERGE_BLOCK_OFFSET     15 /* of the freed block */
#define FRAGLAB_STAT_MERGE_NEIGHBOUR_OFFSET 16 /* of the free neighbour */
/* ABI 1.4 (ABI §3.6): memory pools and frees that wait for other streams */
#define FRAGLAB_STAT_REQUEST_PRIVATE_POOL 17 /* request's private pool: 0 default, -1 outside an allocation */
#define FRAGLAB_STAT_PRIVATE_RESERVED     18 /* bytes reserved by private pools */
#define FRAGLAB_STAT_PENDING_FREE         19 /* bytes in frees waiting for other streams */
/* ABI 1.5 (ABI §3.7): stitched ranges */
#define FRAGLAB_STAT_STITCHED      20 /* bytes mapped in stitched ranges */
#define FRAGLAB_STAT_STITCHED_FREE 21 /* of those, bytes in free stitched blocks */
#define FRAGLAB_STAT_UNKNOWN       (-0x7fffffffffffffffLL - 1) /* INT64_MIN */

/* Config keys of fraglab_config, callable in policy_init only (ABI §5.5). */
#define FRAGLAB_CONFIG_CANDIDATE_WINDOW  1 /* 1..FRAGLAB_MAX_CANDIDATES */
#define FRAGLAB_CONFIG_HOOKS             2 /* ABI 1.1: the hook mask */
#define FRAGLAB_CONFIG_MERGE_REPEAT      3 /* ABI 1.2: 1 = merge again */
#define FRAGLAB_CONFIG_RESERVE_LIMIT     4 /* ABI 1.3: most bytes reserved; 0 none */
#define FRAGLAB_CONFIG_STITCH_KEEP       5 /* ABI 1.5: 1 = freed stitched blocks stay cached */
#define FRAGLAB_DEFAULT_CANDIDATE_WINDOW 8
#define FRAGLAB_MAX_CANDIDATES           256

/* Hooks, numbered as the bits of the hook mask (ABI §5.5, the order of
 * §3). With the 1.1 marker, fraglab_config(FRAGLAB_CONFIG_HOOKS,
 * FRAGLAB_HOOK_BIT(FRAGLAB_HOOK_ROUND_SIZE) | ...) in policy_init says which
 * exported hooks are really implemented; the host never calls the others. */
#define FRAGLAB_HOOK_INIT         0
#define FRAGLAB_HOOK_SCRATCH      1
#define FRAGLAB_HOOK_ROUND_SIZE   2
#define FRAGLAB_HOOK_CHOOSE_POOL  3
#define FRAGLAB_HOOK_SEARCH_ORDER 4
#define FRAGLAB_HOOK_PICK_BLOCK   5
#define FRAGLAB_HOOK_SPLIT        6
#define FRAGLAB_HOOK_MERGE        7
#define FRAGLAB_HOOK_SEGMENT_MODE 8
#define FRAGLAB_HOOK_SEGMENT_SIZE 9
#define FRAGLAB_HOOK_EXPAND_SIZE  10
#define FRAGLAB_HOOK_RELEASE      11
#define FRAGLAB_HOOK_OBSERVE      12
#define FRAGLAB_HOOK_PLAN         13 /* ABI 1.5 */
#define FRAGLAB_HOOK_PLACE        14 /* ABI 1.5 */
#define FRAGLAB_NUM_HOOKS         15

/* FRAGLAB_HOOK_BIT(h): the mask bit of hook FRAGLAB_HOOK_*. */
#define FRAGLAB_HOOK_BIT(h) ((fraglab_i64)1 << (h))

/* Log levels of fraglab_log (ABI §5.1). */
#define FRAGLAB_LOG_DEBUG 0
#define FRAGLAB_LOG_INFO  1
#define FRAGLAB_LOG_WARN  2
#define FRAGLAB_LOG_ERROR 3

/* Well-known tags (ABI §6); other names get ids from FRAGLAB_FIRST_CUSTOM_TAG
 * on, and fraglab_tag_name gives their text. */
#define FRAGLAB_TAG_UNKNOWN      0
#define FRAGLAB_TAG_WEIGHT       1
#define FRAGLAB_TAG_ACTIVATION   2
#define FRAGLAB_TAG_GRADIENT     3
#define FRAGLAB_TAG_OPTIMIZER    4
#define FRAGLAB_TAG_KV_CACHE     5
#define FRAGLAB_TAG_WORKSPACE    6
#define FRAGLAB_FIRST_CUSTOM_TAG 16

/* ------------------------------------------------------------------------
 * Hooks (ABI §3). All optional: define only those you need; the host
 * applies its default (ABI §4) to the others. Each returns the answer.
 */

/* Once, before any other hook. >= 0: ready; negative: the module is refused. */
FRAGLAB_EXPORT(policy_init)
fraglab_i64 policy_init(void);

/* Once after policy_init when policy_pick_block is defined: the address of
 * at least min_bytes, 8-byte aligned, that never moves (0: cannot). Define
 * it with FRAGLAB_SCRATCH rather than by hand. */
FRAGLAB_EXPORT(policy_scratch)
fraglab_i32 policy_scratch(fraglab_i32 min_bytes);

/* The block size for a request: a multiple of 512, >= size, <= 2^48. */
FRAGLAB_EXPORT(policy_round_size)
fraglab_i64 policy_round_size(fraglab_i64 size, fraglab_i32 stream,
                              fraglab_i32 tag);

/* The pool that serves the request: 0..7. */
FRAGLAB_EXPORT(policy_choose_pool)
fraglab_i64 policy_choose_pool(fraglab_i64 rounded, fraglab_i32 stream,
                               fraglab_i32 tag);

/* The order candidates are offered in: FRAGLAB_ORDER_*. */
FRAGLAB_EXPORT(policy_search_order)
fraglab_i64 policy_search_order(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag);

/* Pick one of the n >= 1 candidates the host wrote to the scratch area
 * (read them with fraglab_candidates()): an index in [0, n), or
 * FRAGLAB_NONE to grow instead. */
FRAGLAB_EXPORT(policy_pick_block)
fraglab_i64 policy_pick_block(fraglab_i32 n, fraglab_i64 rounded,
                              fraglab_i32 pool, fraglab_i32 stream,
                              fraglab_i32 tag);

/* The size of the front piece of the chosen block: rounded (split off the
 * request) .. block_size (no split), a multiple of 512. */
FRAGLAB_EXPORT(policy_split)
fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag);

/* Merge a freed block with a free neighbour on `side`: 1 merge, 0 not. */
FRAGLAB_EXPORT(policy_merge)
fraglab_i64 policy_merge(fraglab_i64 block_size, fraglab_i64 neighbour_size,
                         fraglab_i32 pool, fraglab_i32 side);

/* Once per (pool, stream): 0 classic segments, or an expandable segment's
 * page size. */
FRAGLAB_EXPORT(policy_segment_mode)
fraglab_i64 policy_segment_mode(fraglab_i32 pool, fraglab_i32 stream);

/* The size of a new classic segment: a multiple of 512, >= rounded. */
FRAGLAB_EXPORT(policy_segment_size)
fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag);

/* Bytes to map at the end of an expandable segment: a multiple of page,
 * >= missing. */
FRAGLAB_EXPORT(policy_expand_size)
fraglab_i64 policy_expand_size(fraglab_i64 missing, fraglab_i64 rounded,
                               fraglab_i32 pool, fraglab_i32 stream,
                               fraglab_i64 page);

/* What to release: FRAGLAB_RELEASE(FRAGLAB_ACT_*, arg). */
FRAGLAB_EXPORT(policy_release)
fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt);

/* An event off the decision path (FRAGLAB_OBSERVE_*): any value >= 0. */
FRAGLAB_EXPORT(policy_observe)
fraglab_i64 policy_observe(fraglab_i32 kind, fraglab_i64 id, fraglab_i64 size,
                           fraglab_i32 tag);

/* ------------------------------------------------------------------------
 * Candidate records (ABI §3.4): 48 bytes each, back to back at the scratch
 * address. wasm32 is little-endian, so the struct maps the record directly.
 */
typedef struct fraglab_candidate {
    fraglab_u64 size;            /* block size */
    fraglab_u64 addr;            /* block address */
    fraglab_u64 segment_addr;    /* base address of the block's segment */
    fraglab_u64 segment_size;    /* segment size (expandable: mapped bytes) */
    fraglab_u64 expandable_size; /* size plus the unmapped range after it */
    fraglab_u32 flags;           /* FRAGLAB_FLAG_* */
    fraglab_u32 stream;          /* stream index */
} fraglab_candidate;

#define FRAGLAB_RECORD_SIZE 48

FRAGLAB_STATIC_ASSERT(sizeof(fraglab_candidate) == FRAGLAB_RECORD_SIZE,
                      "candidate record must be 48 bytes (ABI 3.4)");
FRAGLAB_STATIC_ASSERT(__builtin_offsetof(fraglab_candidate, expandable_size) == 32,
                      "expandable_size must be at offset 32 (ABI 3.4)");
FRAGLAB_STATIC_ASSERT(__builtin_offsetof(fraglab_candidate, flags) == 40,
                      "flags must be at offset 40 (ABI 3.4)");
FRAGLAB_STATIC_ASSERT(__builtin_offsetof(fraglab_candidate, stream) == 44,
                      "stream must be at offset 44 (ABI 3.4)");

/* ------------------------------------------------------------------------
 * Planning (ABI 1.5, ABI §3.8). A module that defines policy_plan must
 * define policy_place and policy_scratch too (size the scratch area for
 * FRAGLAB_PLAN_BATCH records), and declare FRAGLAB_ABI_V1_5(). Such a
 * policy is offline: it sees the whole workload before the first event.
 */

/* Called before the first event, repeatedly: the scratch area holds
 * `count` plan records (at most FRAGLAB_PLAN_BATCH; read them with
 * fraglab_plan_records()), one per allocation of the workload in event
 * order; done is 1 on the last call (count may be 0). Answer 0 (or
 * FRAGLAB_ERROR) to a call with done 0; to the last call, the arena's size
 * in bytes (0 or FRAGLAB_DEFER: no arena). */
FRAGLAB_EXPORT(policy_plan)
fraglab_i64 policy_plan(fraglab_i32 count, fraglab_i32 done);

/* At each allocation, after rounding and the pool: an offset in the arena
 * where the block of `rounded` bytes goes (inside the arena, overlapping
 * no live placed block), or FRAGLAB_DEFER / FRAGLAB_NONE for the usual
 * path. */
FRAGLAB_EXPORT(policy_place)
fraglab_i64 policy_place(fraglab_i64 id, fraglab_i64 rounded, fraglab_i32 pool,
                         fraglab_i32 stream, fraglab_i32 tag);

/* Plan records: 48 bytes each, little-endian, back to back. */
typedef struct fraglab_plan_record {
    fraglab_u64 id;     /* allocation id (policy_place's id) */
    fraglab_u64 size;   /* requested bytes */
    fraglab_u64 alloc;  /* index of the allocation's event */
    fraglab_u64 free;   /* index of its free event; FRAGLAB_PLAN_NEVER if none */
    fraglab_u32 stream; /* stream index */
    fraglab_u32 tag;    /* tag id */
    fraglab_u32 pool;   /* private memory pool, 0 the default pool */
    fraglab_u32 flags;  /* reserved, 0 */
} fraglab_plan_record;

#define FRAGLAB_PLAN_RECORD_SIZE 48
#define FRAGLAB_PLAN_BATCH       256
#define FRAGLAB_PLAN_NEVER       (~(fraglab_u64)0)

FRAGLAB_STATIC_ASSERT(sizeof(fraglab_plan_record) == FRAGLAB_PLAN_RECORD_SIZE,
                      "plan record must be 48 bytes (ABI 3.8)");
FRAGLAB_STATIC_ASSERT(__builtin_offsetof(fraglab_plan_record, free) == 24,
                      "free must be at offset 24 (ABI 3.8)");
FRAGLAB_STATIC_ASSERT(__builtin_offsetof(fraglab_plan_record, stream) == 32,
                      "stream must be at offset 32 (ABI 3.8)");
FRAGLAB_STATIC_ASSERT(__builtin_offsetof(fraglab_plan_record, pool) == 40,
                      "pool must be at offset 40 (ABI 3.8)");

/* FRAGLAB_SCRATCH(bytes): defines a static 8-byte aligned scratch area of
 * `bytes` bytes and the policy_scratch hook that hands it out (it answers 0,
 * failing the load, when the host asks for more). Needed with
 * policy_pick_block; size it for the candidate window, e.g.
 * FRAGLAB_SCRATCH(8 * FRAGLAB_RECORD_SIZE). Write it once, at file scope,
 * with a trailing semicolon. */
#define FRAGLAB_SCRATCH(bytes)                                              \
    static unsigned char fraglab_scratch_area[(bytes)]                      \
        __attribute__((aligned(8)));                                        \
    fraglab_i32 policy_scratch(fraglab_i32 min_bytes) {                     \
        if (min_bytes < 0 ||                                                \
            (__SIZE_TYPE__)min_bytes > sizeof(fraglab_scratch_area))        \
            return 0;                                                       \
        return (fraglab_i32)(__UINTPTR_TYPE__)fraglab_scratch_area;         \
    }                                                                       \
    extern fraglab_i32 policy_scratch(fraglab_i32 min_bytes)

/* fraglab_candidates(): the candidate records in the area FRAGLAB_SCRATCH
 * defined; inside policy_pick_block, entries 0..n-1 are valid. */
#define fraglab_candidates() \
    ((const fraglab_candidate *)(const void *)fraglab_scratch_area)

/* fraglab_plan_records(): the plan records in the area FRAGLAB_SCRATCH
 * defined; inside policy_plan, entries 0..count-1 are valid. */
#define fraglab_plan_records() \
    ((const fraglab_plan_record *)(const void *)fraglab_scratch_area)

/* ------------------------------------------------------------------------
 * Host imports of module "fraglab" (ABI §5), raw. Strings are (pointer,
 * byte length), not NUL-terminated. Prefer the helpers further down.
 */

/* A line for the run's log at level FRAGLAB_LOG_*. */
FRAGLAB_IMPORT(log)
void fraglab_host_log(fraglab_i32 level, const char *text, fraglab_i32 len);

/* The explanation of the next FRAGLAB_ERROR answer or trap (4 KiB kept). */
FRAGLAB_IMPORT(error_set)
void fraglab_host_error_set(const char *text, fraglab_i32 len);

/* Parameter `name` as an integer (true/false read 1/0), or def if absent. */
FRAGLAB_IMPORT(param_i64)
fraglab_i64 fraglab_host_param_i64(const char *name, fraglab_i32 name_len,
                                   fraglab_i64 def);

/* Parameter `name` as a float, or def if absent. */
FRAGLAB_IMPORT(param_f64)
fraglab_f64 fraglab_host_param_f64(const char *name, fraglab_i32 name_len,
                                   fraglab_f64 def);

/* Parameter `name` as text: -1 if absent, else its length; written to buf
 * only if it fits in limit bytes (no NUL is added). */
FRAGLAB_IMPORT(param_str)
fraglab_i32 fraglab_host_param_str(const char *name, fraglab_i32 name_len,
                                   char *buf, fraglab_i32 limit);

/* The allocator's state: FRAGLAB_STAT_* (FRAGLAB_STAT_UNKNOWN if unknown). */
FRAGLAB_IMPORT(stat)
fraglab_i64 fraglab_host_stat(fraglab_i32 key, fraglab_i32 arg);

/* The name of tag id `tag`: -1 if unknown, else its length; written to buf
 * only if it fits in limit bytes (no NUL is added). */
FRAGLAB_IMPORT(tag_name)
fraglab_i32 fraglab_host_tag_name(fraglab_i32 tag, char *buf,
                                  fraglab_i32 limit);

/* Sets FRAGLAB_CONFIG_* `key` (in policy_init only): the value in force, or
 * FRAGLAB_ERROR for an unknown key or a value out of range. */
FRAGLAB_IMPORT(config)
fraglab_i64 fraglab_host_config(fraglab_i32 key, fraglab_i64 value);

/* ------------------------------------------------------------------------
 * Helpers. The string macros take NUL-terminated strings and evaluate their
 * string argument more than once.
 */

/* The length of a NUL-terminated string, without libc. */
static inline fraglab_i32 fraglab_strlen(const char *s) {
    fraglab_i32 n = 0;
    while (s[n] != 0)
        n++;
    return n;
}

/* FRAGLAB_STRLEN(s): a literal's length folded at compile time by the
 * builtin; any other string's length counted by fraglab_strlen. Never a
 * call to libc's strlen, at any optimisation level. */
#ifdef __cplusplus
#define FRAGLAB_STRLEN(s) fraglab_strlen(s) /* no __builtin_choose_expr */
#else
#define FRAGLAB_STRLEN(s)                                          \
    ((fraglab_i32)__builtin_choose_expr(__builtin_constant_p(s),   \
                                        __builtin_strlen(s),       \
                                        fraglab_strlen(s)))
#endif

/* fraglab_log(level, "text"): one line for the run's log. */
#define fraglab_log(level, text) \
    fraglab_host_log((level), (text), FRAGLAB_STRLEN(text))

/* fraglab_error("text"): sets the error text and yields FRAGLAB_ERROR, so
 * `return fraglab_error("why");` fails the hook. */
#define fraglab_error(text)                                       \
    (fraglab_host_error_set((text), FRAGLAB_STRLEN(text)),        \
     (fraglab_i64)FRAGLAB_ERROR)

/* fraglab_param_i64("name", def), fraglab_param_f64("name", def): read a
 * parameter in policy_init (every parameter given to a run must be read). */
#define fraglab_param_i64(name, def) \
    fraglab_host_param_i64((name), FRAGLAB_STRLEN(name), (def))
#define fraglab_param_f64(name, def) \
    fraglab_host_param_f64((name), FRAGLAB_STRLEN(name), (def))

/* fraglab_param_str("name", buf, limit): see fraglab_host_param_str. */
#define fraglab_param_str(name, buf, limit) \
    fraglab_host_param_str((name), FRAGLAB_STRLEN(name), (buf), (limit))

/* fraglab_stat(key, arg): see fraglab_host_stat. */
static inline fraglab_i64 fraglab_stat(fraglab_i32 key, fraglab_i32 arg) {
    return fraglab_host_stat(key, arg);
}

/* fraglab_request_private_pool(): the private memory pool of the allocation
 * being served (ABI 1.4, §3.6): 0 for the default pool, the pool's id (>= 1)
 * for a private one, -1 outside an allocation; FRAGLAB_STAT_UNKNOWN on a
 * host older than 1.4 and during policy_init. */
static inline fraglab_i64 fraglab_request_private_pool(void) {
    return fraglab_host_stat(FRAGLAB_STAT_REQUEST_PRIVATE_POOL, 0);
}

/* fraglab_tag_name(tag, buf, limit): see fraglab_host_tag_name. */
static inline fraglab_i32 fraglab_tag_name(fraglab_i32 tag, char *buf,
                                           fraglab_i32 limit) {
    return fraglab_host_tag_name(tag, buf, limit);
}

/* fraglab_config(key, value): see fraglab_host_config. */
static inline fraglab_i64 fraglab_config(fraglab_i32 key, fraglab_i64 value) {
    return fraglab_host_config(key, value);
}

/* ------------------------------------------------------------------------
 * Text with numbers, for error texts and log lines, without libc: append
 * to a fraglab_text (4 KiB: give it static storage, not the stack), then
 * hand it to the host.
 *
 *   static fraglab_text why;
 *   ...
 *   fraglab_text_clear(&why);
 *   fraglab_text_put(&why, "classes_per_doubling=");
 *   fraglab_text_put_i64(&why, v);
 *   fraglab_text_put(&why, ": must be 1, 2, 4, 8 or 16");
 *   return fraglab_text_error(&why);
 *
 * Text past FRAGLAB_TEXT_CAP bytes (what the host keeps of an error) is
 * dropped.
 */
#define FRAGLAB_TEXT_CAP 4096

typedef struct fraglab_text {
    fraglab_i32 len;
    char buf[FRAGLAB_TEXT_CAP];
} fraglab_text;

/* Empties t. */
static inline void fraglab_text_clear(fraglab_text *t) { t->len = 0; }

/* Appends the n bytes at s. */
static inline void fraglab_text_put_bytes(fraglab_text *t, const char *s,
                                          fraglab_i32 n) {
    for (fraglab_i32 i = 0; i < n && t->len < FRAGLAB_TEXT_CAP; i++)
        t->buf[t->len++] = s[i];
}

/* Appends the NUL-terminated string s. */
static inline void fraglab_text_put(fraglab_text *t, const char *s) {
    fraglab_text_put_bytes(t, s, fraglab_strlen(s));
}

/* Appends v in decimal. */
static inline void fraglab_text_put_u64(fraglab_text *t, fraglab_u64 v) {
    char digits[20];
    fraglab_i32 n = 20;
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    fraglab_text_put_bytes(t, &digits[n], 20 - n);
}

/* Appends v in decimal, with a '-' when negative. */
static inline void fraglab_text_put_i64(fraglab_text *t, fraglab_i64 v) {
    if (v < 0) {
        fraglab_text_put_bytes(t, "-", 1);
        fraglab_text_put_u64(t, (fraglab_u64)0 - (fraglab_u64)v);
    } else {
        fraglab_text_put_u64(t, (fraglab_u64)v);
    }
}

/* Sets t as the error text and yields FRAGLAB_ERROR:
 * `return fraglab_text_error(&t);` fails the hook. */
static inline fraglab_i64 fraglab_text_error(const fraglab_text *t) {
    fraglab_host_error_set(t->buf, t->len);
    return FRAGLAB_ERROR;
}

/* fraglab_param_error(t, name, value, rule): writes "<name>=<value>:
 * <rule>" into t and fails the hook with it, for policy_init's checks of
 * its parameters: `return fraglab_param_error(&why, "x", x, "must be >= 1");`. */
static inline fraglab_i64 fraglab_param_error(fraglab_text *t, const char *name,
                                              fraglab_i64 value,
                                              const char *rule) {
    fraglab_text_clear(t);
    fraglab_text_put(t, name);
    fraglab_text_put(t, "=");
    fraglab_text_put_i64(t, value);
    fraglab_text_put(t, ": ");
    fraglab_text_put(t, rule);
    return fraglab_text_error(t);
}

/* Writes t as one log line at level FRAGLAB_LOG_*. */
static inline void fraglab_text_log(fraglab_i32 level, const fraglab_text *t) {
    fraglab_host_log(level, t->buf, t->len);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FRAGLAB_H */
