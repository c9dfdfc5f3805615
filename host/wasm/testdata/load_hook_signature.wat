;; refused at load: policy_round_size exported as (i32) -> (i64) instead of (i64, i32, i32) -> (i64)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i32) (result i64) (i64.const -1)))
