;; ABI 1.2: config(3, 1) turns on repeated merges; policy_merge records stat 15 and 16 (the block's and the neighbour's offsets in their segment) and always merges
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (import "fraglab" "stat" (func $stat (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_repeat") (mut i64) (i64.const 0))     ;; config(3, 1) in init
  (global (export "g_repeat_2") (mut i64) (i64.const 0))   ;; config(3, 2) in init
  (global (export "g_init_off") (mut i64) (i64.const 0))   ;; stat(15, 0) in init
  (global $block (export "g_block_off") (mut i64) (i64.const -2))
  (global $nb (export "g_nb_off") (mut i64) (i64.const -2))
  (global $calls (export "g_calls") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_2"))
  (func (export "policy_init") (result i64)
    (global.set 1 (call $config (i32.const 3) (i64.const 2)))
    (global.set 0 (call $config (i32.const 3) (i64.const 1)))
    (global.set 2 (call $stat (i32.const 15) (i32.const 0)))
    (i64.const 0))
  (func (export "policy_merge") (param i64 i64 i32 i32) (result i64)
    (global.set $block (call $stat (i32.const 15) (i32.const 0)))
    (global.set $nb (call $stat (i32.const 16) (i32.const 0)))
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (i64.const 1)))
