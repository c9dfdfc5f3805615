;; invalid answer: policy_round_size answers the request itself, not a multiple of 512
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param $size i64) (param i32 i32) (result i64) (local.get $size)))
