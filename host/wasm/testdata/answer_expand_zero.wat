;; invalid answer: expandable segments of 2 MiB pages, and policy_expand_size answers 0 bytes to map
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_segment_mode") (param i32 i32) (result i64) (i64.const 2097152))
  (func (export "policy_expand_size") (param i64 i64 i32 i32 i64) (result i64) (i64.const 0)))
