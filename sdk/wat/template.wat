;; template.wat: a starting point for a fraglab policy in WebAssembly text,
;; policy ABI v1.5 (sdk/ABI.md is the normative contract; sdk/abi/abi.go
;; holds the same constants in Go).
;;
;; As it stands the module is a valid policy that implements no hook, so
;; the host answers every decision with its default (ABI §4: PyTorch's
;; caching allocator with an empty PYTORCH_CUDA_ALLOC_CONF). To write a
;; policy, copy this file, uncomment the hooks you want and fill them in.
;; sizeclass.wat beside it is a complete example.
;;
;; Build:
;;   wat2wasm template.wat -o template.wasm
;; Try:
;;   go run ./cmd/fraglab replay --trace examples/traces/devlog-small-then-large.jsonl \
;;       --policy sdk/wat/template.wasm
;;
;; Conventions of the ABI (§2), in wasm terms:
;; * Every hook takes only i32 and i64 parameters and returns one i64, the
;;   answer. A non-negative answer is the decision; a negative one a status:
;;     -1 DEFER  use the host default for this one decision
;;     -2 NONE   policy_pick_block only: take no cached block
;;     -3 ERROR  the policy failed: the run stops with the error_set text
;;   Any other negative answer, or one out of the hook's range, stops the run
;;   with an error naming the event, the hook, its arguments and the answer.
;; * Sizes and addresses are bytes in i64, signed: compare with i64.lt_s and
;;   friends unless you mean unsigned. Every size the host passes, and every
;;   size you answer, is a multiple of 512 and at most 2^48.
;; * Streams are indexes 0, 1, 2, ... in order of first appearance. Pools
;;   are 0..7: 0 PyTorch's small pool, 1 its large pool, 2..7 extra pools.
;; * Tags (ABI §6): 0 unknown, 1 weight, 2 activation, 3 gradient,
;;   4 optimizer, 5 kv_cache, 6 workspace, 16... other names (tag_name).
;; * A trap (unreachable, out-of-bounds access) stops the run with the trap
;;   message and the error_set text, if any.
(module
  ;; -----------------------------------------------------------------------
  ;; Host imports (ABI §5), all from module "fraglab". None traps on bad
  ;; input: a bad pointer or length stops the run with an error naming the
  ;; import. Strings are (address, byte length) of UTF-8 in this module's
  ;; memory, never NUL-terminated. Importing what you do not call is
  ;; harmless; delete what you do not need.

  ;; log(level, ptr, len): one line for the run's log; levels 0 debug,
  ;; 1 info, 2 warn, 3 error. The host keeps the first 1000 lines.
  (import "fraglab" "log" (func $log (param i32 i32 i32)))

  ;; error_set(ptr, len): the explanation of the next ERROR answer or trap
  ;; (at most 4 KiB kept).
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))

  ;; param_i64(name_ptr, name_len, default) -> the parameter (--param
  ;; name=value) as an integer (true/false read 1/0), or default when absent.
  ;; Read every parameter in policy_init: the host refuses a parameter the
  ;; policy never read, and one that does not parse as the asked type.
  (import "fraglab" "param_i64" (func $param_i64 (param i32 i32 i64) (result i64)))

  ;; param_f64(name_ptr, name_len, default) -> the parameter as a float.
  (import "fraglab" "param_f64" (func $param_f64 (param i32 i32 f64) (result f64)))

  ;; param_str(name_ptr, name_len, buf, limit) -> -1 when absent, else the
  ;; value's length; the value is written to buf only if it fits in limit
  ;; bytes (call again with a larger buffer).
  (import "fraglab" "param_str" (func $param_str (param i32 i32 i32 i32) (result i32)))

  ;; stat(key, arg) -> the allocator's state now (ABI §5.3); INT64_MIN for
  ;; an unknown key. Keys: 0 event index, 1 reserved, 2 allocated,
  ;; 3 requested, 4 active, 5 capacity (-1 unlimited), 6 device free,
  ;; 7 segments, 8 free bytes of pool arg, 9 largest free block of pool arg,
  ;; 10 reserved bytes of pool arg, 11 OOMs, 12 device granularity,
  ;; 13 peak reserved, 14 allocated blocks; (ABI 1.2) during policy_merge,
  ;; -1 at other times: 15 the freed block's offset in its segment, 16 the
  ;; neighbour's; (ABI 1.4, §3.6) 17 the private memory pool of the
  ;; allocation being served (0 the default pool, -1 outside an
  ;; allocation), 18 bytes reserved by private pools, 19 bytes in frees
  ;; that wait for other streams; (ABI 1.5, §3.7) 20 bytes mapped in
  ;; stitched ranges, 21 of those the bytes in free stitched blocks. Keys
  ;; need no marker: a host answers every key it knows to every module (an
  ;; older one INT64_MIN); keys 17 to 19 answer INT64_MIN in policy_init.
  (import "fraglab" "stat" (func $stat (param i32 i32) (result i64)))

  ;; tag_name(tag, buf, limit) -> -1 for an unknown tag id, else the name's
  ;; length; written to buf only if it fits in limit bytes.
  (import "fraglab" "tag_name" (func $tag_name (param i32 i32 i32) (result i32)))

  ;; config(key, value) -> the value in force, or -3 for an unknown key or a
  ;; value out of range. Callable in policy_init only (ABI §5.5). Keys:
  ;;   1 candidate window: the most candidates written for
  ;;     policy_pick_block, 1..256, default 8;
  ;;   2 (ABI 1.1) hook mask: bit h set = hook h is really implemented; the
  ;;     host never calls an exported hook whose bit is clear. h: init 0,
  ;;     scratch 1, round_size 2, choose_pool 3, search_order 4,
  ;;     pick_block 5, split 6, merge 7, segment_mode 8, segment_size 9,
  ;;     expand_size 10, release 11, observe 12, (ABI 1.5) plan 13,
  ;;     place 14. Needs the 1.1 marker;
  ;;   3 (ABI 1.2) repeated merges: 1 ask policy_merge again about a merged
  ;;     block's new neighbours, 0 once per side. Needs the 1.2 marker;
  ;;   4 (ABI 1.3) reserve limit: the most bytes held from the device,
  ;;     0..2^48, 0 none. Needs the 1.3 marker;
  ;;   5 (ABI 1.5) stitch keep: 1 a freed stitched block stays mapped and
  ;;     cached, 0 (default) its range is torn down when freed. Needs the
  ;;     1.5 marker.
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))

  ;; -----------------------------------------------------------------------
  ;; ABI §1: the module exports its linear memory as "memory". The host
  ;; reads strings from it and writes candidate records to the scratch area.
  (memory (export "memory") 1)

  ;; Memory map of this template (change it as you need):
  ;;   1024  the scratch area: 8 candidate records of 48 bytes = 384 bytes
  ;;         (enough for the default window; 256 records need 12288 bytes)
  ;;   2048  constant strings
  (data (i32.const 2048) "hello from template.wat")     ;; 23 bytes

  ;; ABI §1: the version marker, a () -> () function the host never calls;
  ;; it reads the name. Export exactly one:
  ;;   fraglab_abi_v1_0  uses nothing added after 1.0; runs on any 1.x host
  ;;   fraglab_abi_v1_1  calls config(2, mask) (the hook mask)
  ;;   fraglab_abi_v1_2  calls config(3, 1) (repeated merges)
  ;;   fraglab_abi_v1_3  calls config(4, limit) (a reserve limit)
  ;;   fraglab_abi_v1_4  relies on stat keys 17 to 19 (a 1.3 host refuses it)
  ;;   fraglab_abi_v1_5  stitches (release actions 4 and 5, config key 5) or
  ;;                     plans (exports policy_plan and policy_place)
  ;; Each needs a host that implements its version.
  (func (export "fraglab_abi_v1_0"))

  ;; -----------------------------------------------------------------------
  ;; Hooks (ABI §3). Every one is optional: the host never calls a hook the
  ;; module does not export and applies its default instead (ABI §4). A
  ;; hook exported with another signature is refused at load. They are
  ;; listed in the order the host asks them while serving one allocation.

  ;; policy_init() -> i64. Called once, after _initialize (if exported),
  ;; before any other hook. Read parameters and call config here, and only
  ;; here. Answer >= 0: ready; negative: the module is refused with the
  ;; error_set text.
  ;;
  ;; (func (export "policy_init") (result i64)
  ;;   (call $log (i32.const 1) (i32.const 2048) (i32.const 23))
  ;;   ;; With the 1.1 marker: say that only round_size (bit 2) and split
  ;;   ;; (bit 6) are implemented: 0x44.
  ;;   ;; (drop (call $config (i32.const 2) (i64.const 0x44)))
  ;;   (i64.const 0))

  ;; policy_scratch(min_bytes i32) -> i32. Called once after policy_init,
  ;; only if policy_pick_block is exported (then it is required). Answer the
  ;; address of a region of at least min_bytes (= candidate window x 48),
  ;; 8-byte aligned, that never moves; 0: cannot (the load fails).
  ;;
  ;; (func (export "policy_scratch") (param $min_bytes i32) (result i32)
  ;;   (select (i32.const 1024) (i32.const 0)
  ;;           (i32.le_u (local.get $min_bytes) (i32.const 384))))

  ;; policy_round_size(size i64, stream i32, tag i32) -> i64. The block size
  ;; for a request of size bytes: a multiple of 512, >= size, <= 2^48.
  ;; Host default: up to the next multiple of 512 (at least 512).
  ;;
  ;; (func (export "policy_round_size") (param $size i64) (param $stream i32) (param $tag i32) (result i64)
  ;;   (i64.const -1)) ;; DEFER

  ;; policy_choose_pool(rounded i64, stream i32, tag i32) -> i64. The pool
  ;; that serves the request: 0..7. Only that pool's free blocks on that
  ;; stream are searched. Host default: rounded <= 1 MiB -> 0, else 1.
  ;;
  ;; (func (export "policy_choose_pool") (param $rounded i64) (param $stream i32) (param $tag i32) (result i64)
  ;;   (i64.const -1))

  ;; policy_search_order(rounded i64, pool i32, stream i32, tag i32) -> i64.
  ;; The order free blocks (size >= rounded) are offered in: 0 best fit
  ;; (size ascending, then address), 1 address ascending (first fit),
  ;; 2 largest first (size descending, then address). Host default: 0.
  ;;
  ;; (func (export "policy_search_order") (param $rounded i64) (param $pool i32) (param $stream i32) (param $tag i32) (result i64)
  ;;   (i64.const -1))

  ;; policy_pick_block(n i32, rounded i64, pool i32, stream i32, tag i32) -> i64.
  ;; Before the call the host writes the first n candidates (1 <= n <=
  ;; window), in the search order, as 48-byte little-endian records at the
  ;; scratch address. Record i is at scratch + 48 i:
  ;;   +0 u64 block size            +8 u64 block address
  ;;   +16 u64 segment base         +24 u64 segment size (expandable: mapped)
  ;;   +32 u64 expandable size      +40 u32 flags (bit 0 expandable,
  ;;   +44 u32 stream index                 bit 1 spans its whole segment)
  ;; Answer an index in [0, n), or NONE (-2) to take no cached block (the
  ;; host grows instead). Host default: the best fit, preferring blocks
  ;; that cannot grow in expandable segments.
  ;;
  ;; (func (export "policy_pick_block") (param $n i32) (param $rounded i64) (param $pool i32) (param $stream i32) (param $tag i32) (result i64)
  ;;   ;; e.g. the size of candidate 0: (i64.load (i32.const 1024))
  ;;   (i64.const 0))

  ;; policy_split(block_size i64, rounded i64, pool i32, stream i32, flags i32, tag i32) -> i64.
  ;; The size of the front piece of the chosen block, a multiple of 512 in
  ;; [rounded, block_size]: the front piece is allocated, the back piece
  ;; becomes a free block of the same pool; block_size means no split. While
  ;; the answer is a split above rounded the host asks again with the front
  ;; piece (halving schemes). flags: bit 0 expandable segment, bit 1 the
  ;; block spans its whole segment. Host default: pool 0 or expandable:
  ;; split when the remainder is >= 512; other pools: when it is > 1 MiB.
  ;;
  ;; (func (export "policy_split") (param $block_size i64) (param $rounded i64) (param $pool i32) (param $stream i32) (param $flags i32) (param $tag i32) (result i64)
  ;;   (i64.const -1))

  ;; policy_merge(block_size i64, neighbour_size i64, pool i32, side i32) -> i64.
  ;; Asked when a block is freed, for each free neighbour in the same
  ;; segment (side 0 below, 1 above): 1 merge, 0 keep apart. Host default: 1.
  ;;
  ;; (func (export "policy_merge") (param $block_size i64) (param $neighbour_size i64) (param $pool i32) (param $side i32) (result i64)
  ;;   (i64.const 1))

  ;; policy_segment_mode(pool i32, stream i32) -> i64. Asked once per
  ;; (pool, stream), the first time it must grow: 0 classic segments (one
  ;; device allocation each); or a page size p > 0, a multiple of the device
  ;; granularity (stat 12; 2 MiB on sim): one expandable segment grown by
  ;; mapping pages of p bytes. Host default: 0.
  ;;
  ;; (func (export "policy_segment_mode") (param $pool i32) (param $stream i32) (result i64)
  ;;   (i64.const 0))

  ;; policy_segment_size(rounded i64, pool i32, stream i32, tag i32) -> i64.
  ;; Classic segments: the size of the new segment, a multiple of 512,
  ;; >= rounded, <= 2^48. Host default: rounded <= 1 MiB -> 2 MiB;
  ;; < 10 MiB -> 20 MiB; else rounded up to a multiple of 2 MiB.
  ;;
  ;; (func (export "policy_segment_size") (param $rounded i64) (param $pool i32) (param $stream i32) (param $tag i32) (result i64)
  ;;   (i64.const -1))

  ;; policy_expand_size(missing i64, rounded i64, pool i32, stream i32, page i64) -> i64.
  ;; Expandable segments: the bytes to map, a multiple of page, >= missing,
  ;; within the reserved range. Host default: missing rounded up to whole
  ;; pages.
  ;;
  ;; (func (export "policy_expand_size") (param $missing i64) (param $rounded i64) (param $pool i32) (param $stream i32) (param $page i64) (result i64)
  ;;   (i64.const -1))

  ;; policy_release(phase i32, rounded i64, pool i32, stream i32, attempt i32) -> i64.
  ;; What to release: phase 0 once before growing, phase 1 after growing
  ;; failed (attempt 0, 1, ... at most 16). Answer arg << 4 | action:
  ;;   0 nothing (phase 1: the allocation fails with OOM)
  ;;   1 release cached (empty_cache), arg 0
  ;;   2 release oversize free segments of this pool and stream, arg =
  ;;     threshold T > 0
  ;;   3 release aged free segments of the large pools, arg = target bytes
  ;;   4 stitch (ABI 1.5): map free 2 MiB pages of this pool's expandable
  ;;     segments into one new range that serves the request, arg 0; arg 1
  ;;     (grow) first maps new pages for what the free pages lack (§3.7)
  ;;   5 release stitched (ABI 1.5): tear down every free stitched range,
  ;;     arg 0
  ;; Host default: phase 0 nothing; phase 1 attempt 0 release cached, later
  ;; nothing.
  ;;
  ;; (func (export "policy_release") (param $phase i32) (param $rounded i64) (param $pool i32) (param $stream i32) (param $attempt i32) (result i64)
  ;;   (i64.const -1))

  ;; policy_observe(kind i32, id i64, size i64, tag i32) -> i64. Off the
  ;; decision path: kind 0 allocation served (id, rounded size), 1 block
  ;; freed (id, block size), 2 allocation failed (id, rounded size),
  ;; 3 empty_cache (id 0, bytes released). Answer any value >= 0; ERROR
  ;; stops the run.
  ;;
  ;; (func (export "policy_observe") (param $kind i32) (param $id i64) (param $size i64) (param $tag i32) (result i64)
  ;;   (i64.const 0))

  ;; Offline planning (ABI 1.5, §3.8). A module that exports policy_plan
  ;; must export policy_place and policy_scratch too and the 1.5 marker.
  ;; policy_scratch is then asked for at least 256 x 48 = 12288 bytes
  ;; (move the scratch area and the strings apart to make room).
  ;;
  ;; policy_plan(count i32, done i32) -> i64. Called before the first
  ;; event, repeatedly: the scratch area holds count (at most 256) plan
  ;; records of 48 bytes, one per allocation of the workload in event
  ;; order; done is 1 on the last call (count may be 0). Records:
  ;;   +0  u64 allocation id        +8  u64 requested bytes
  ;;   +16 u64 alloc event index    +24 u64 free event index (-1: never)
  ;;   +32 u32 stream index         +36 u32 tag id
  ;;   +40 u32 private memory pool  +44 u32 flags (0)
  ;; Answer 0 (or ERROR) while done is 0; on the last call the arena size
  ;; in bytes (0 or DEFER: no arena).
  ;;
  ;; (func (export "policy_plan") (param $count i32) (param $done i32) (result i64)
  ;;   (select (i64.const 0x4000000) (i64.const 0) (local.get $done)))
  ;;
  ;; policy_place(id i64, rounded i64, pool i32, stream i32, tag i32) -> i64.
  ;; At each allocation, after round_size and choose_pool: an offset in the
  ;; arena for [offset, offset+rounded), inside the arena and overlapping
  ;; no live placed block; DEFER or NONE: the usual path.
  ;;
  ;; (func (export "policy_place") (param $id i64) (param $rounded i64) (param $pool i32) (param $stream i32) (param $tag i32) (result i64)
  ;;   (i64.const -1))
)
