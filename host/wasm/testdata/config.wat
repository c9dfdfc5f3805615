;; fraglab.config: policy_init sets the candidate window to 3; policy_pick_block keeps the largest n, tries config again (too late) and picks the last candidate
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_unknown_key") (mut i64) (i64.const 0))   ;; config(99, 1) in init
  (global (export "g_window_0") (mut i64) (i64.const 0))      ;; config(1, 0) in init
  (global (export "g_window_257") (mut i64) (i64.const 0))    ;; config(1, 257) in init
  (global (export "g_window_3") (mut i64) (i64.const 0))      ;; config(1, 3) in init
  (global $min (export "g_scratch_min") (mut i64) (i64.const 0))
  (global $max_n (export "g_max_n") (mut i64) (i64.const 0))
  (global $late (export "g_late") (mut i64) (i64.const 0))    ;; config(1, 5) in policy_pick_block
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64)
    (global.set 0 (call $config (i32.const 99) (i64.const 1)))
    (global.set 1 (call $config (i32.const 1) (i64.const 0)))
    (global.set 2 (call $config (i32.const 1) (i64.const 257)))
    (global.set 3 (call $config (i32.const 1) (i64.const 3)))
    (i64.const 0))
  (func (export "policy_scratch") (param $min i32) (result i32)
    (global.set $min (i64.extend_i32_u (local.get $min)))
    (i32.const 1024))
  (func (export "policy_pick_block") (param $n i32) (param i64 i32 i32 i32) (result i64)
    (if (i64.gt_s (i64.extend_i32_u (local.get $n)) (global.get $max_n))
      (then (global.set $max_n (i64.extend_i32_u (local.get $n)))))
    (global.set $late (call $config (i32.const 1) (i64.const 5)))
    (i64.extend_i32_u (i32.sub (local.get $n) (i32.const 1)))))
