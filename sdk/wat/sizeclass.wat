;; sizeclass: the example policy every fraglab SDK ships, in hand-written
;; WebAssembly text.
;;
;; It rounds requests up to size classes, a fixed number per power of two,
;; and splits blocks less eagerly than PyTorch in the large pools. The C
;; (sdk/c/example/sizeclass.c) and AssemblyScript
;; (sdk/assemblyscript/assembly/sizeclass.ts) versions answer exactly the
;; same; compare them side by side. template.wat beside this file lists every
;; hook and import.
;;
;; Parameters (read in policy_init):
;;   classes_per_doubling  size classes per power of two: 1, 2, 4, 8 or 16
;;                         (default 4)
;;   split_min_mb          the smallest remainder, in MiB, worth splitting off
;;                         a block in pools other than 0 (default 4, >= 1)
;;
;; Hooks: policy_init, policy_round_size and policy_split. Every other
;; decision is the host default (sdk/ABI.md §4). As the module exports only
;; the hooks it implements it needs no hook mask, and so the ABI 1.0 marker.
;;
;; Build, from sdk/wat:
;;   wat2wasm sizeclass.wat -o sizeclass.wasm
(module
  ;; Host imports (ABI §5), only the two this policy uses. Strings are
  ;; (address, byte length) of UTF-8 in this module's memory.
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (import "fraglab" "param_i64" (func $param_i64 (param i32 i32 i64) (result i64)))

  ;; ABI §1: the linear memory, exported as "memory". One page holds the
  ;; constant strings and the error text.
  (memory (export "memory") 1)

  ;; Memory map:
  ;;   1024  parameter names and the fixed parts of the error texts
  ;;   1536  20 bytes: decimal digits, built backwards by $put_i64
  ;;   2048  the error text being built (at most 128 bytes here)
  (data (i32.const 1024) "classes_per_doubling")          ;; 20 bytes
  (data (i32.const 1056) "split_min_mb")                  ;; 12 bytes
  (data (i32.const 1072) ": must be 1, 2, 4, 8 or 16")    ;; 26 bytes
  (data (i32.const 1104) ": must be \e2\89\a5 1")          ;; 15 bytes: U+2265 is 3 bytes of UTF-8

  ;; The parameters in force (policy_init sets them).
  (global $classes_per_doubling (mut i64) (i64.const 4))
  (global $split_min_mb (mut i64) (i64.const 4))

  ;; ABI §1: the version marker. The host never calls it; its name says the
  ;; module is written for ABI 1.0.
  (func (export "fraglab_abi_v1_0"))

  ;; ---------------------------------------------------------------------
  ;; Text helpers: each writes at $dst and answers the address after what
  ;; it wrote.

  ;; Copies $len bytes from $src to $dst.
  (func $put_bytes (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (local.get $dst))

  ;; Writes $v in decimal, with a '-' when negative.
  (func $put_i64 (param $dst i32) (param $v i64) (result i32)
    (local $u i64) (local $p i32)
    ;; The magnitude, unsigned (0 - v also gives 2^63 for the most negative).
    (local.set $u
      (select (i64.sub (i64.const 0) (local.get $v)) (local.get $v)
              (i64.lt_s (local.get $v) (i64.const 0))))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then
        (i32.store8 (local.get $dst) (i32.const 0x2d)) ;; '-'
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))
    ;; Digits backwards from 1556 down, at least one.
    (local.set $p (i32.const 1556))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 0x30) (i32.wrap_i64 (i64.rem_u (local.get $u) (i64.const 10)))))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $u) (i64.const 0))))
    (call $put_bytes (local.get $dst) (local.get $p) (i32.sub (i32.const 1556) (local.get $p))))

  ;; Sets the error text "<name>=<value><why>" and answers ERROR (-3).
  (func $refuse (param $name i32) (param $name_len i32) (param $value i64)
                (param $why i32) (param $why_len i32) (result i64)
    (local $end i32)
    (local.set $end (call $put_bytes (i32.const 2048) (local.get $name) (local.get $name_len)))
    (i32.store8 (local.get $end) (i32.const 0x3d)) ;; '='
    (local.set $end (call $put_i64 (i32.add (local.get $end) (i32.const 1)) (local.get $value)))
    (local.set $end (call $put_bytes (local.get $end) (local.get $why) (local.get $why_len)))
    (call $error_set (i32.const 2048) (i32.sub (local.get $end) (i32.const 2048)))
    (i64.const -3))

  ;; ---------------------------------------------------------------------
  ;; Hooks.

  ;; policy_init() -> i64: reads both parameters, then checks them. 0: ready;
  ;; ERROR (-3) with the error text: the module is refused.
  (func (export "policy_init") (result i64)
    (local $classes i64) (local $split_min i64)
    (local.set $classes (call $param_i64 (i32.const 1024) (i32.const 20) (i64.const 4)))
    (local.set $split_min (call $param_i64 (i32.const 1056) (i32.const 12) (i64.const 4)))
    ;; classes_per_doubling must be 1, 2, 4, 8 or 16: a power of two
    ;; (exactly one bit set) no larger than 16.
    (if (i32.or (i64.gt_u (local.get $classes) (i64.const 16))
                (i64.ne (i64.popcnt (local.get $classes)) (i64.const 1)))
      (then
        (return (call $refuse (i32.const 1024) (i32.const 20) (local.get $classes)
                              (i32.const 1072) (i32.const 26)))))
    (if (i64.lt_s (local.get $split_min) (i64.const 1))
      (then
        (return (call $refuse (i32.const 1056) (i32.const 12) (local.get $split_min)
                              (i32.const 1104) (i32.const 15)))))
    (global.set $classes_per_doubling (local.get $classes))
    (global.set $split_min_mb (local.get $split_min))
    (i64.const 0))

  ;; policy_round_size(size, stream, tag) -> i64, the block size: sizes up
  ;; to 512 take one block of 512; a power of two is its own class; any
  ;; other size rounds up to the next of classes_per_doubling equal steps
  ;; between the powers of two around it (steps of at least 512).
  (func (export "policy_round_size") (param $size i64) (param $stream i32) (param $tag i32) (result i64)
    (local $step i64)
    (if (i64.le_s (local.get $size) (i64.const 512))
      (then (return (i64.const 512))))
    ;; A power of two: size & (size - 1) is 0.
    (if (i64.eqz (i64.and (local.get $size) (i64.sub (local.get $size) (i64.const 1))))
      (then (return (local.get $size))))
    ;; step = max(2^floor(log2 size) / classes_per_doubling, 512); both are
    ;; powers of two, so step is one too.
    (local.set $step
      (i64.div_u
        (i64.shl (i64.const 1) (i64.sub (i64.const 63) (i64.clz (local.get $size))))
        (global.get $classes_per_doubling)))
    (if (i64.lt_u (local.get $step) (i64.const 512))
      (then (local.set $step (i64.const 512))))
    ;; Round up to a multiple of step: (size + step - 1) & -step.
    (i64.and
      (i64.add (local.get $size) (i64.sub (local.get $step) (i64.const 1)))
      (i64.sub (i64.const 0) (local.get $step))))

  ;; policy_split(block_size, rounded, pool, stream, flags, tag) -> i64, the
  ;; front piece: rounded splits the rest off as a free block, block_size
  ;; keeps the block whole. Pool 0 splits any remainder of at least 512
  ;; bytes; other pools only one of at least split_min_mb MiB, compared as
  ;; floor(remainder / MiB) >= split_min_mb (the same, and no overflow).
  (func (export "policy_split") (param $block_size i64) (param $rounded i64) (param $pool i32)
                                (param $stream i32) (param $flags i32) (param $tag i32) (result i64)
    (local $rest i64)
    (local.set $rest (i64.sub (local.get $block_size) (local.get $rounded)))
    (select (local.get $rounded) (local.get $block_size)
      (if (result i32) (i32.eqz (local.get $pool))
        (then (i64.ge_s (local.get $rest) (i64.const 512)))
        (else (i64.ge_s (i64.shr_s (local.get $rest) (i64.const 20))
                        (global.get $split_min_mb)))))))
