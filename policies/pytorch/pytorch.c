/*
 * pytorch: PyTorch's CUDA caching allocator, with its knobs, as a fraglab
 * policy.
 *
 * Each hook implements one rule of c10/cuda/CUDACachingAllocator.cpp as
 * summarised in shared/reference/pytorch-caching-allocator.md (cited below
 * as "ref §n"). Where PyTorch versions differ, the rules and the knob syntax
 * follow the 2025-26 main branch (ref §0 "main-2025/26":
 * c10/core/AllocatorConfig.cpp and CUDAAllocatorConfig.cpp); README.md lists
 * every such choice and the known limitations.
 *
 * The knobs are PYTORCH_CUDA_ALLOC_CONF's, given as policy parameters of
 * the same names (`--param max_split_size_mb=128`). policy_init reads every
 * one of them (the host refuses a parameter a policy never reads), checks
 * it against PyTorch's accepted range and stores it in `struct settings`,
 * which every rule reads. A bad value refuses the module with a text that
 * names the knob, the value and the accepted range. With no parameter every
 * answer equals the host default of sdk/ABI.md §4, which is PyTorch with an
 * empty PYTORCH_CUDA_ALLOC_CONF.
 *
 * Not exported, because the host default is PyTorch's rule already:
 * policy_search_order (best fit, ref §2), policy_merge (always merge free
 * neighbours of the same segment, ref §3.2), policy_expand_size (map the
 * missing bytes rounded up to whole pages, ref §5.3) and policy_observe.
 *
 * Build (from policies/pytorch):
 *   clang --target=wasm32 -std=c11 -O2 -ffreestanding -nostdlib -Wall -Wextra
 *         -Wno-unused-parameter -Wmissing-prototypes -Werror
 *         -Wl,--no-entry -Wl,--strip-all -I../../sdk/c
 *         -o pytorch.wasm pytorch.c
 */
#include "fraglab.h"

/* Another policy may reuse these rules by defining PYTORCH_AS_LIBRARY and
 * including this file (policies/planner does): it then declares its own
 * marker and scratch area (FRAGLAB_SCRATCH, at least
 * CANDIDATE_WINDOW_EXPANDABLE records, before the #include), and
 * pytorch_init, the knobs' policy_init, and pytorch_release, the release
 * steps' policy_release, are static functions it calls from its own
 * policy_init and policy_release. */
#ifndef PYTORCH_AS_LIBRARY
FRAGLAB_ABI_V1_3(); /* config key 4: the memory fraction's limit */
#endif

/* Constants of the allocator (ref §1.1); not configurable in PyTorch. */
#define MIN_BLOCK_SIZE  512                 /* kMinBlockSize */
#define SMALL_SIZE      FRAGLAB_MIB         /* kSmallSize: largest small request */
#define SMALL_BUFFER    (2 * FRAGLAB_MIB)   /* kSmallBuffer: small-pool segment and page */
#define LARGE_BUFFER    (20 * FRAGLAB_MIB)  /* kLargeBuffer */
#define MIN_LARGE_ALLOC (10 * FRAGLAB_MIB)  /* kMinLargeAlloc */
#define ROUND_LARGE     (2 * FRAGLAB_MIB)   /* kRoundLarge */

/* roundup_power2_divisions has one entry per power-of-two interval from
 * 1 MiB (2^20) to 64 GiB (ref §1.3). */
#define POWER2_INTERVALS   16
#define POWER2_FIRST_SHIFT 20

/* max_split_size when unset: no block is "oversize" (PyTorch: SIZE_MAX). */
#define UNLIMITED ((fraglab_i64)0x7fffffffffffffffLL)

/* The largest MB count a size knob keeps: 2^28 MB = 2^48 bytes, the largest
 * size fraglab allows. (PyTorch clamps at SIZE_MAX / 1 MiB.) */
#define MAX_MB (FRAGLAB_MAX_SIZE / FRAGLAB_MIB)

/* Candidates offered to policy_pick_block. Only the expandable tie-break
 * looks past the first one, so with classic segments one candidate is all
 * the rules read (and the host then writes one record per malloc, not 8);
 * with expandable segments the tie-break may walk up to 8. */
#define CANDIDATE_WINDOW_CLASSIC    1
#define CANDIDATE_WINDOW_EXPANDABLE 8

#ifndef PYTORCH_AS_LIBRARY
FRAGLAB_SCRATCH(CANDIDATE_WINDOW_EXPANDABLE * FRAGLAB_RECORD_SIZE);
#endif

/* Functions policy_init alone runs: kept out of line and optimised for
 * size, so the module stays small. */
#define INIT __attribute__((cold, noinline))

/* PyTorch's PYTORCH_CUDA_ALLOC_CONF knobs (ref §1.3, §1.5, §2, §4.2, §4.3,
 * §5), sizes in bytes. */
struct settings {
    /* max_split_size_mb: blocks of at least this size are "oversize": an
     * oversize request is never split, smaller requests never take an
     * oversize block, and oversize cached segments are released first when
     * the device is full (ref §2, §3.1, §4.1 step 4d). */
    fraglab_i64 max_split_size;
    /* max_non_split_rounding_mb: the most an oversize block may exceed an
     * oversize request it serves (ref §2 rule b). */
    fraglab_i64 max_non_split_rounding;
    /* large_segment_size_mb: the segment for 1 MiB < rounded < 10 MiB
     * (ref §1.5) and the large pool's expandable page (ref §5.1). */
    fraglab_i64 large_segment_size;
    /* garbage_collection_threshold in (0, 1); 0 disables GC (ref §4.3). */
    double garbage_collection_threshold;
    /* per_process_memory_fraction in (0, 1]: the share of the device the
     * allocator may reserve, below 1, and the limit GC measures against
     * (ref §4.2). */
    double per_process_memory_fraction;
    /* expandable_segments: one expandable segment per (pool, stream). */
    int expandable_segments;
    /* roundup_power2_divisions: 0 (or 1) disables the interval (ref §1.3). */
    fraglab_u64 roundup_power2_divisions[POWER2_INTERVALS];
};

static struct settings settings;

/* The candidate window policy_init set. */
static fraglab_i32 window;

/* PyTorch's defaults: an empty PYTORCH_CUDA_ALLOC_CONF. */
INIT static void default_settings(struct settings *s) {
    s->max_split_size = UNLIMITED;
    s->max_non_split_rounding = LARGE_BUFFER;
    s->large_segment_size = LARGE_BUFFER;
    s->garbage_collection_threshold = 0;
    s->per_process_memory_fraction = 1;
    s->expandable_segments = 0;
    for (int i = 0; i < POWER2_INTERVALS; i++)
        s->roundup_power2_divisions[i] = 0;
}

/* floor(log2 n), n > 0. */
static int log2_floor(fraglab_u64 n) { return 63 - __builtin_clzll(n); }

static int is_power_of_two(fraglab_u64 n) {
    return n != 0 && (n & (n - 1)) == 0;
}

/* ------------------------------------------------------------------------
 * Error texts. policy_init refuses a bad knob with "<knob>=<value>: <why>".
 */

static char text[512];
static fraglab_i32 text_len;

INIT static void put_bytes(const char *s, fraglab_i32 n) {
    for (fraglab_i32 i = 0; i < n && text_len < (fraglab_i32)sizeof text; i++)
        text[text_len++] = s[i];
}

INIT static void put(const char *s) { put_bytes(s, fraglab_strlen(s)); }

INIT static void put_u64(fraglab_u64 v) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        put_bytes(&digits[--n], 1);
}

/* Hands the text to the host: policy_init's answer. */
INIT static fraglab_i64 refuse(void) {
    fraglab_host_error_set(text, text_len);
    return FRAGLAB_ERROR;
}

/* ------------------------------------------------------------------------
 * Reading knobs. The value of the knob being read sits in `raw` (`val` is
 * the part the parsers read: all of it, or nothing when it was too long to
 * read). Values are taken as given: no blanks are trimmed, but a list may
 * have blanks between its tokens, as PyTorch's parser skips them.
 */

#define VALUE_LIMIT 256

static const char *knob;
static char raw[VALUE_LIMIT];
static fraglab_i32 raw_len; /* the value's length; > VALUE_LIMIT: not read */
static const char *val;
static fraglab_i32 val_len; /* 0 when the value is too long to read */

/* Reads knob `name`: 1 when given (val, val_len), 0 when absent. */
INIT static int read_knob(const char *name) {
    knob = name;
    raw_len =
        fraglab_host_param_str(name, fraglab_strlen(name), raw, VALUE_LIMIT);
    if (raw_len < 0)
        return 0;
    val = raw;
    val_len = raw_len <= VALUE_LIMIT ? raw_len : 0;
    return 1;
}

/* Starts the error text with "<knob>=<value>: ". */
INIT static void begin_error(void) {
    text_len = 0;
    put(knob);
    put("=");
    if (raw_len <= VALUE_LIMIT) {
        put_bytes(raw, raw_len);
    } else {
        put("(a value of ");
        put_u64((fraglab_u64)raw_len);
        put(" bytes)");
    }
    put(": ");
}

/* Refuses the knob being read: "<knob>=<value>: <why>". */
INIT static fraglab_i64 invalid(const char *why) {
    begin_error();
    put(why);
    return refuse();
}

/* Decimal digits s[0, n) as *v, saturating at 2^64 - 1; 0 when s is empty
 * or holds anything but digits. */
INIT static int parse_u64(const char *s, fraglab_i32 n, fraglab_u64 *v) {
    const fraglab_u64 max = ~(fraglab_u64)0;
    fraglab_u64 x = 0;
    if (n <= 0)
        return 0;
    for (fraglab_i32 i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        fraglab_u64 d = (fraglab_u64)(s[i] - '0');
        x = x > (max - d) / 10 ? max : x * 10 + d;
    }
    *v = x;
    return 1;
}

/* Whether s[0, n) is `word`, ignoring ASCII case. */
INIT static int is_word(const char *s, fraglab_i32 n, const char *word) {
    fraglab_i32 i = 0;
    for (; i < n && word[i] != 0; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return 0;
    }
    return i == n && word[i] == 0;
}

/* max_split_size_mb (ref §2): an integer number of MB, at least
 * kLargeBuffer / 1 MiB = 20, or "unlimited" (the default). MB means MiB,
 * as in PyTorch. Counts above 2^28 MB cannot describe a fraglab block and
 * act as unlimited. */
INIT static fraglab_i64 read_max_split_size(void) {
    fraglab_u64 mb;
    if (!read_knob("max_split_size_mb"))
        return 0;
    if (is_word(val, val_len, "unlimited")) {
        settings.max_split_size = UNLIMITED;
        return 0;
    }
    if (!parse_u64(val, val_len, &mb))
        return invalid("must be an integer ≥ 20 (MB), or unlimited");
    if (mb < LARGE_BUFFER / FRAGLAB_MIB)
        return invalid("must be ≥ 20 (MB)");
    settings.max_split_size =
        mb > MAX_MB ? UNLIMITED : (fraglab_i64)mb * FRAGLAB_MIB;
    return 0;
}

/* max_non_split_rounding_mb (ref §2 rule b): an integer number of MB, at
 * least 20 (the default); counts above 2^28 MB act as 2^28 MB. */
INIT static fraglab_i64 read_max_non_split_rounding(void) {
    fraglab_u64 mb;
    if (!read_knob("max_non_split_rounding_mb"))
        return 0;
    if (!parse_u64(val, val_len, &mb))
        return invalid("must be an integer ≥ 20 (MB)");
    if (mb < LARGE_BUFFER / FRAGLAB_MIB)
        return invalid("must be ≥ 20 (MB)");
    if (mb > MAX_MB)
        mb = MAX_MB;
    settings.max_non_split_rounding = (fraglab_i64)mb * FRAGLAB_MIB;
    return 0;
}

/* large_segment_size_mb (ref §1.5, §5.1): an integer number of MB above
 * kMinLargeAlloc / 1 MiB = 10 (default 20). fraglab also bounds it by 2^28
 * MB, as a segment may not exceed 2^48 bytes. */
INIT static fraglab_i64 read_large_segment_size(void) {
    fraglab_u64 mb;
    if (!read_knob("large_segment_size_mb"))
        return 0;
    if (!parse_u64(val, val_len, &mb) || mb <= MIN_LARGE_ALLOC / FRAGLAB_MIB ||
        mb > MAX_MB)
        return invalid("must be > 10 and ≤ 268435456 (MB)");
    settings.large_segment_size = (fraglab_i64)mb * FRAGLAB_MIB;
    return 0;
}

/* A number knob. The host parses the number (param_f64, as Go's strconv
 * does); a value it cannot parse answers the NaN default, which no range
 * check accepts. The text was read first, for the error message. */
INIT static double read_number(void) {
    return fraglab_host_param_f64(knob, fraglab_strlen(knob),
                                  __builtin_nan(""));
}

/* garbage_collection_threshold (ref §4.3): a number in (0, 1); absent: 0,
 * no garbage collection. */
INIT static fraglab_i64 read_garbage_collection_threshold(void) {
    if (!read_knob("garbage_collection_threshold"))
        return 0;
    double t = read_number();
    if (!(t > 0 && t < 1))
        return invalid("must be a number > 0 and < 1");
    settings.garbage_collection_threshold = t;
    return 0;
}

/* per_process_memory_fraction (ref §4.2): a number in (0, 1], default 1. */
INIT static fraglab_i64 read_per_process_memory_fraction(void) {
    if (!read_knob("per_process_memory_fraction"))
        return 0;
    double f = read_number();
    if (!(f > 0 && f <= 1))
        return invalid("must be a number > 0 and ≤ 1");
    settings.per_process_memory_fraction = f;
    return 0;
}

/* expandable_segments (ref §5): true or false (any case), 1 or 0. */
INIT static fraglab_i64 read_expandable_segments(void) {
    if (!read_knob("expandable_segments"))
        return 0;
    if (is_word(val, val_len, "true") || is_word(val, val_len, "1"))
        settings.expandable_segments = 1;
    else if (is_word(val, val_len, "false") || is_word(val, val_len, "0"))
        settings.expandable_segments = 0;
    else
        return invalid("must be true, false, 1 or 0");
    return 0;
}

#define DIVISIONS_ACCEPTED                                                   \
    "must be a power of two or 0, or a list such as [256:1,512:2,>:8] "    \
    "(keys: MB, powers of two, or >; divisions: powers of two or 0)"

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Skips blanks at *s. */
INIT static void skip_blanks(const char **s, const char *end) {
    while (*s < end && is_blank(**s))
        (*s)++;
}

/* The next token of a list: blanks skipped, then the run of characters up
 * to a blank or one of ":,[]". */
INIT static void next_token(const char **s, const char *end,
                            const char **tok, fraglab_i32 *n) {
    skip_blanks(s, end);
    *tok = *s;
    while (*s < end && !is_blank(**s) && **s != ':' && **s != ',' &&
           **s != '[' && **s != ']')
        (*s)++;
    *n = (fraglab_i32)(*s - *tok);
}

/* Consumes c (after blanks) at *s; 0 when the next character is not c. */
INIT static int consume(const char **s, const char *end, char c) {
    skip_blanks(s, end);
    if (*s < end && **s == c) {
        (*s)++;
        return 1;
    }
    return 0;
}

/* Refuses a divisions value: "divisions <v> must be a power of two or 0". */
INIT static fraglab_i64 invalid_divisions(const char *v, fraglab_i32 n) {
    begin_error();
    put("divisions ");
    put_bytes(v, n);
    put(" must be a power of two or 0");
    return refuse();
}

/* roundup_power2_divisions (ref §1.3), main-2025/26 syntax and meaning:
 * - one value d: every interval gets d;
 * - a list [K:d,...,>:d]: key K (MB, a power of two) sets the interval of
 *   index log2(K) (clamped to 15), i.e. sizes in [K MiB, 2K MiB); the first
 *   key also sets every interval below it; > sets every interval above the
 *   last key before it. Intervals no entry sets stay 0.
 * Divisions are powers of two, or 0 (off; 1 is off too). A trailing comma
 * before ] is accepted, as PyTorch's parser does. */
INIT static fraglab_i64 read_roundup_power2_divisions(void) {
    fraglab_u64 *table = settings.roundup_power2_divisions;
    const char *s, *end, *key, *value;
    fraglab_i32 key_len, value_len;
    fraglab_u64 d, mb;
    int first = 1, last = 0;

    if (!read_knob("roundup_power2_divisions"))
        return 0;
    s = val;
    end = val + val_len;
    if (!consume(&s, end, '[')) {
        if (!parse_u64(val, val_len, &d))
            return invalid(DIVISIONS_ACCEPTED);
        if (d != 0 && !is_power_of_two(d))
            return invalid_divisions(val, val_len);
        for (int i = 0; i < POWER2_INTERVALS; i++)
            table[i] = d;
        return 0;
    }
    while (!consume(&s, end, ']')) {
        next_token(&s, end, &key, &key_len);
        if (!consume(&s, end, ':'))
            return invalid(DIVISIONS_ACCEPTED);
        next_token(&s, end, &value, &value_len);
        if (!parse_u64(value, value_len, &d))
            return invalid(DIVISIONS_ACCEPTED);
        if (d != 0 && !is_power_of_two(d))
            return invalid_divisions(value, value_len);
        if (key_len == 1 && key[0] == '>') {
            for (int i = last + 1; i < POWER2_INTERVALS; i++)
                table[i] = d;
        } else {
            if (!parse_u64(key, key_len, &mb))
                return invalid(DIVISIONS_ACCEPTED);
            if (!is_power_of_two(mb)) {
                begin_error();
                put("key ");
                put_bytes(key, key_len);
                put(" must be a power of two (MB) or >");
                return refuse();
            }
            int index = log2_floor(mb);
            if (index > POWER2_INTERVALS - 1)
                index = POWER2_INTERVALS - 1;
            if (first) {
                for (int i = 0; i < index; i++)
                    table[i] = d;
                first = 0;
            }
            table[index] = d;
            last = index;
        }
        if (!consume(&s, end, ',')) {
            if (!consume(&s, end, ']'))
                return invalid(DIVISIONS_ACCEPTED);
            break;
        }
    }
    skip_blanks(&s, end);
    if (s != end)
        return invalid(DIVISIONS_ACCEPTED);
    return 0;
}

/* With expandable segments the pages (2 MiB small, large_segment_size
 * large) must be multiples of the device granularity (ABI §3.2). */
INIT static fraglab_i64 check_pages(void) {
    fraglab_i64 gran = fraglab_stat(FRAGLAB_STAT_GRANULARITY, 0);
    if (!settings.expandable_segments || gran <= 0)
        return 0;
    if (SMALL_BUFFER % gran != 0) {
        text_len = 0;
        put("expandable_segments=true: the small pool's 2 MiB page is not a "
            "multiple of the device granularity (");
        put_u64((fraglab_u64)gran);
        put(" bytes)");
        return refuse();
    }
    if (settings.large_segment_size % gran != 0) {
        text_len = 0;
        put("large_segment_size_mb=");
        put_u64((fraglab_u64)(settings.large_segment_size / FRAGLAB_MIB));
        put(": must be a multiple of the device granularity (");
        put_u64((fraglab_u64)gran);
        put(" bytes) with expandable_segments on, as it is the large pool's "
            "page");
        return refuse();
    }
    return 0;
}

/* The memory fraction's limit (ref §4.2): with a fraction below 1 (main:
 * set_per_process_memory_fraction, or the config key) and a known capacity,
 * allowed = fraction * capacity, truncated to bytes as PyTorch's size_t
 * cast does; a growth (its allocation size) that would take reserved bytes
 * past it fails before any CUDA call, which the host does for config key 4.
 * A fraction of 1 sets no limit, as in main. */
INIT static fraglab_i64 set_memory_limit(void) {
    fraglab_i64 capacity = fraglab_stat(FRAGLAB_STAT_CAPACITY, 0);
    if (settings.per_process_memory_fraction >= 1 || capacity <= 0)
        return 0;
    fraglab_i64 allowed =
        (fraglab_i64)(settings.per_process_memory_fraction * (double)capacity);
    if (fraglab_config(FRAGLAB_CONFIG_RESERVE_LIMIT, allowed) != allowed)
        return fraglab_error("pytorch: the host refused the memory limit of "
                             "per_process_memory_fraction (config key 4, ABI "
                             "1.3)");
    return 0;
}

#ifdef PYTORCH_AS_LIBRARY
static fraglab_i64 pytorch_init(void) {
#else
fraglab_i64 policy_init(void) {
#endif
    fraglab_i64 r;
    default_settings(&settings);
    if ((r = read_max_split_size()) < 0 ||
        (r = read_max_non_split_rounding()) < 0 ||
        (r = read_roundup_power2_divisions()) < 0 ||
        (r = read_garbage_collection_threshold()) < 0 ||
        (r = read_per_process_memory_fraction()) < 0 ||
        (r = read_large_segment_size()) < 0 ||
        (r = read_expandable_segments()) < 0 || (r = check_pages()) < 0)
        return r;
    window = settings.expandable_segments ? CANDIDATE_WINDOW_EXPANDABLE
                                          : CANDIDATE_WINDOW_CLASSIC;
    if (fraglab_config(FRAGLAB_CONFIG_CANDIDATE_WINDOW, window) != window)
        return fraglab_error("pytorch: the host refused the candidate window");
    return set_memory_limit();
}

/* ------------------------------------------------------------------------
 * The rules.
 */

/* The divisions entry for size n: interval floor(log2 n) - 20, clamped to
 * the table (ref §1.3). */
static fraglab_u64 power2_divisions(fraglab_i64 n) {
    int i = log2_floor((fraglab_u64)n) - POWER2_FIRST_SHIFT;
    if (i < 0)
        i = 0;
    if (i > POWER2_INTERVALS - 1)
        i = POWER2_INTERVALS - 1;
    return settings.roundup_power2_divisions[i];
}

/* roundup_power2_next_division (ref §1.2): a power of two stays; otherwise
 * round up to a multiple of P / d, P the largest power of two <= n. */
static fraglab_i64 power2_next_division(fraglab_i64 n, fraglab_u64 d) {
    fraglab_u64 u = (fraglab_u64)n;
    if (is_power_of_two(u))
        return n;
    fraglab_u64 p = (fraglab_u64)1 << log2_floor(u);
    fraglab_u64 step = p >> log2_floor(d);
    if (step == 0)
        return (fraglab_i64)(p << 1);
    fraglab_u64 down = u & ~(step - 1);
    return (fraglab_i64)(down == u ? u : down + step);
}

/* round_size (ref §1.2): below 512 -> 512; with d > 1 divisions for the
 * size's interval and size > 512 d, power-of-two division rounding;
 * otherwise up to the next multiple of 512. size > 512 d is tested as
 * d < ceil(size / 512), which cannot overflow. */
fraglab_i64 policy_round_size(fraglab_i64 size, fraglab_i32 stream,
                              fraglab_i32 tag) {
    if (size < MIN_BLOCK_SIZE)
        return MIN_BLOCK_SIZE;
    fraglab_u64 d = power2_divisions(size);
    fraglab_u64 blocks =
        ((fraglab_u64)size + MIN_BLOCK_SIZE - 1) / MIN_BLOCK_SIZE;
    if (d > 1 && d < blocks)
        return power2_next_division(size, d);
    return (fraglab_i64)blocks * MIN_BLOCK_SIZE;
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
 * request, a block at least max_non_split_rounding larger.
 *
 * The window holds 8 candidates. When the walk reaches the last of a full
 * window it might go on past it: without max_split_size the answer is
 * DEFER, and the host default makes the same walk over the whole free
 * index; with max_split_size set the rules must see the block, so the walk
 * stops at the window's last candidate (a documented limitation). */
fraglab_i64 policy_pick_block(fraglab_i32 n, fraglab_i64 rounded,
                              fraglab_i32 pool, fraglab_i32 stream,
                              fraglab_i32 tag) {
    const fraglab_candidate *c = fraglab_candidates();
    fraglab_i32 i = 0;
    while ((c[i].flags & FRAGLAB_FLAG_EXPANDABLE) && i + 1 < n &&
           c[i + 1].expandable_size < c[i].expandable_size)
        i++;
    if ((c[i].flags & FRAGLAB_FLAG_EXPANDABLE) && i + 1 == n && n == window &&
        settings.max_split_size == UNLIMITED)
        return FRAGLAB_DEFER;
    fraglab_i64 size = (fraglab_i64)c[i].size;
    if (rounded < settings.max_split_size && size >= settings.max_split_size)
        return FRAGLAB_NONE; /* rule (a) */
    if (rounded >= settings.max_split_size &&
        size >= rounded + settings.max_non_split_rounding)
        return FRAGLAB_NONE; /* rule (b) */
    return i;
}

/* should_split (ref §3.1), r = block_size - rounded: small pool, or
 * expandable segments on, split iff r >= 512; large pool, iff rounded <
 * max_split_size and r > 1 MiB. The expandable test is the global flag, as
 * in PyTorch (v2.5 and main-2025/26 alike): while expandable_segments is on
 * every large block splits at r >= 512 and an oversize request is split
 * too. Flag bit 0 (the block is in an expandable segment) cannot be set
 * while the knob is off: segment_mode then answers classic, and the host
 * refuses an initial state with expandable segments; the test keeps the
 * hook equal to the host default for every argument. The front piece is
 * the request. */
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

/* Expandable segments (ref §5.1): with expandable_segments on, one
 * expandable segment per (pool, stream), grown by pages of 2 MiB in the
 * small pool and large_segment_size (default 20 MiB) in the others; off,
 * classic segments (0). */
fraglab_i64 policy_segment_mode(fraglab_i32 pool, fraglab_i32 stream) {
    if (!settings.expandable_segments)
        return 0;
    return pool == FRAGLAB_POOL_SMALL ? SMALL_BUFFER
                                      : settings.large_segment_size;
}

/* get_allocation_size (ref §1.5): rounded <= 1 MiB -> 2 MiB; < 10 MiB ->
 * large_segment_size (default 20 MiB); else rounded up to a multiple of
 * 2 MiB. */
fraglab_i64 policy_segment_size(fraglab_i64 rounded, fraglab_i32 pool,
                                fraglab_i32 stream, fraglab_i32 tag) {
    if (rounded <= SMALL_SIZE)
        return SMALL_BUFFER;
    if (rounded < MIN_LARGE_ALLOC)
        return settings.large_segment_size;
    return (rounded + ROUND_LARGE - 1) / ROUND_LARGE * ROUND_LARGE;
}

/* garbage_collect_cached_blocks (ref §4.3), phase 0. On when
 * garbage_collection_threshold t > 0 and the device capacity is known; the
 * memory limit is allowed = per_process_memory_fraction * capacity. When
 * reserved > t * allowed (both products truncated to bytes, as PyTorch's
 * size_t casts do), release aged large-pool blocks until reserved -
 * t * allowed bytes are freed. */
static fraglab_i64 garbage_collect(void) {
    if (settings.garbage_collection_threshold <= 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    fraglab_i64 capacity = fraglab_stat(FRAGLAB_STAT_CAPACITY, 0);
    if (capacity < 0)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    fraglab_i64 allowed =
        (fraglab_i64)(settings.per_process_memory_fraction * (double)capacity);
    fraglab_i64 threshold =
        (fraglab_i64)(settings.garbage_collection_threshold * (double)allowed);
    fraglab_i64 reserved = fraglab_stat(FRAGLAB_STAT_RESERVED, 0);
    if (reserved <= threshold)
        return FRAGLAB_RELEASE(FRAGLAB_ACT_NOTHING, 0);
    return FRAGLAB_RELEASE(FRAGLAB_ACT_RELEASE_AGED, reserved - threshold);
}

/* The allocation-failure path of malloc (ref §4.1 step 4): phase 0 is
 * step 4a (GC). In phase 1, after the failed first growth (4b), each
 * attempt is the next step: release_available_cached_blocks (4d, only when
 * max_split_size is set: release oversize cached segments), then
 * release_cached_blocks (4e), then OOM (5). */
#ifdef PYTORCH_AS_LIBRARY
static fraglab_i64 pytorch_release(fraglab_i32 phase, fraglab_i64 rounded,
                                   fraglab_i32 pool, fraglab_i32 stream,
                                   fraglab_i32 attempt) {
#else
fraglab_i64 policy_release(fraglab_i32 phase, fraglab_i64 rounded,
                           fraglab_i32 pool, fraglab_i32 stream,
                           fraglab_i32 attempt) {
#endif
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
