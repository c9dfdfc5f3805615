;; trap: policy_round_size calls fraglab.log with bytes outside the memory; the error names the import
(module
  (import "fraglab" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 65530) (i32.const 100))
    (i64.const -1)))
