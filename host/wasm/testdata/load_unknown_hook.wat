;; refused at load: policy_round is not a hook of ABI 1.0 (a typo of policy_round_size)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round") (param i64 i32 i32) (result i64) (i64.const -1)))
