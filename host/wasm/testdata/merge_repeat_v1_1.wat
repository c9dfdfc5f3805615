;; A module declaring ABI 1.1 asks for config key 3, which is 1.2's: the host answers -3 and keeps merges single
(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (memory (export "memory") 1)
  (global (export "g_repeat") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_1"))
  (func (export "policy_init") (result i64)
    (global.set 0 (call $config (i32.const 3) (i64.const 1)))
    (i64.const 0)))
