;; invalid answer: policy_segment_mode answers a 4096-byte page, not a multiple of the 2 MiB granularity
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_segment_mode") (param i32 i32) (result i64) (i64.const 4096)))
