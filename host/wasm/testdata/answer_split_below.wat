;; invalid answer: policy_split answers rounded - 512, a front piece smaller than the request
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_split") (param i64) (param $rounded i64) (param i32 i32 i32 i32) (result i64)
    (i64.sub (local.get $rounded) (i64.const 512))))
