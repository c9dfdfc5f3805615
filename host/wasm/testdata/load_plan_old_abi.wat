;; refused at load: policy_plan and policy_place are ABI 1.5 hooks, the module declares 1.4
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_4"))
  (func (export "policy_scratch") (param i32) (result i32) (i32.const 1024))
  (func (export "policy_plan") (param i32 i32) (result i64) (i64.const 0))
  (func (export "policy_place") (param i64 i64 i32 i32 i32) (result i64) (i64.const -1)))
