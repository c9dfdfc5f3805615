;; refused at start: policy_init gives error_set a reason and answers ERROR (-3)
(module
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "cannot start: no GPU model given")
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64)
    (call $error_set (i32.const 16) (i32.const 32))
    (i64.const -3)))
