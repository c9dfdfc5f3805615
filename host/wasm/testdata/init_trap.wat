;; refused at start: policy_init traps (unreachable)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64) (unreachable)))
