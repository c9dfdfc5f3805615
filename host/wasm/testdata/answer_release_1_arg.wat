;; invalid answer: policy_release answers release cached (1) with an argument (1<<4 | 1)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_release") (param i32 i64 i32 i32 i32) (result i64) (i64.const 17)))
