;; refused at start: policy_init answers a negative status (DEFER) without a reason
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64) (i64.const -1)))
