;; ABI 1.3: config key 4 sets a limit on reserved bytes (here 40 MiB);
;; a negative limit or one past 2^48 is refused with -3.
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_limit") (mut i64) (i64.const 0))
  (global (export "g_negative") (mut i64) (i64.const 0))
  (global (export "g_huge") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_3"))
  (func (export "policy_init") (result i64)
    (global.set 1 (call $config (i32.const 4) (i64.const -1)))
    (global.set 2 (call $config (i32.const 4) (i64.const 281474976710657)))
    (global.set 0 (call $config (i32.const 4) (i64.const 41943040)))
    (i64.const 0)))
