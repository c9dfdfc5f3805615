;; A module declaring ABI 1.2 asks for config key 4, which is 1.3's: the host answers -3 and sets no limit
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_limit") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_2"))
  (func (export "policy_init") (result i64)
    (global.set 0 (call $config (i32.const 4) (i64.const 41943040)))
    (i64.const 0)))
