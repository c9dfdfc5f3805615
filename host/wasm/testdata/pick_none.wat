;; policy_pick_block always answers NONE (-2): no cached block is ever taken, every allocation grows a new segment
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_scratch") (param i32) (result i32) (i32.const 1024))
  (func (export "policy_pick_block") (param i32 i64 i32 i32 i32) (result i64) (i64.const -2)))
