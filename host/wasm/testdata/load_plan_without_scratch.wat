;; refused at load: policy_plan without policy_scratch to receive the plan records
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_5"))
  (func (export "policy_plan") (param i32 i32) (result i64) (i64.const 0))
  (func (export "policy_place") (param i64 i64 i32 i32 i32) (result i64) (i64.const -1)))
