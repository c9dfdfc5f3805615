;; ERROR without a reason: policy_segment_size answers -3 and never calls error_set
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_segment_size") (param i64 i32 i32 i32) (result i64) (i64.const -3)))
