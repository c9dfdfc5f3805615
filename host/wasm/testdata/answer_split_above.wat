;; invalid answer: policy_split answers block_size + 512, a front piece larger than the block
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_split") (param $block i64) (param i64 i32 i32 i32 i32) (result i64)
    (i64.add (local.get $block) (i64.const 512))))
