;; ABI 1.5: stitching. Expandable segments with 2 MiB pages, a stitch
;; before every growth, freed stitched blocks kept (config key 5 = 1).
;; g_keep2: config(5, 2) is refused with -3; g_stat20 and g_stat21: the
;; stitched bytes at policy_init (0); g_seen: the largest stat(20) seen in
;; policy_observe.
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (import "fraglab" "stat" (func $stat (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_keep") (mut i64) (i64.const 0))
  (global (export "g_keep2") (mut i64) (i64.const 0))
  (global (export "g_stat20") (mut i64) (i64.const 7))
  (global (export "g_stat21") (mut i64) (i64.const 7))
  (global (export "g_seen") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_5"))
  (func (export "policy_init") (result i64)
    (global.set 1 (call $config (i32.const 5) (i64.const 2)))
    (global.set 0 (call $config (i32.const 5) (i64.const 1)))
    (global.set 2 (call $stat (i32.const 20) (i32.const 0)))
    (global.set 3 (call $stat (i32.const 21) (i32.const 0)))
    (i64.const 0))
  (func (export "policy_segment_mode") (param i32 i32) (result i64) (i64.const 2097152))
  (func (export "policy_release") (param $phase i32) (param i64 i32 i32 i32) (result i64)
    (if (result i64) (i32.eqz (local.get $phase)) (then (i64.const 4)) (else (i64.const 0))))
  (func (export "policy_observe") (param i32 i64 i64 i32) (result i64)
    (local $s i64)
    (local.set $s (call $stat (i32.const 20) (i32.const 0)))
    (if (i64.gt_s (local.get $s) (global.get 4)) (then (global.set 4 (local.get $s))))
    (i64.const 0)))
