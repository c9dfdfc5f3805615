;; trap with a reason: policy_round_size gives error_set a panic message, then traps (as Rust and Go panics do)
(module
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "index out of range [3] with length 3")
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64)
    (call $error_set (i32.const 16) (i32.const 36))
    (unreachable)))
