;; invalid answer: policy_round_size answers -7, which is no status
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64) (i64.const -7)))
