;; A 1.4 module does not know ABI 1.5's config key 5 (-3) nor stat keys 20
;; and 21 (unknown, i64 minimum), and its answer 4 (stitch) is invalid.
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (import "fraglab" "stat" (func $stat (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_keep") (mut i64) (i64.const 0))
  (global (export "g_stat20") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_4"))
  (func (export "policy_init") (result i64)
    (global.set 0 (call $config (i32.const 5) (i64.const 1)))
    (global.set 1 (call $stat (i32.const 20) (i32.const 0)))
    (i64.const 0))
  (func (export "policy_segment_mode") (param i32 i32) (result i64) (i64.const 2097152))
  (func (export "policy_release") (param $phase i32) (param i64 i32 i32 i32) (result i64) (i64.const 4)))
