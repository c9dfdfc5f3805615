;; ERROR with a reason: policy_choose_pool calls error_set and answers -3 for activations (tag 2), DEFER otherwise
(module
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "no pool for activations")
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_choose_pool") (param i64 i32) (param $tag i32) (result i64)
    (if (i32.ne (local.get $tag) (i32.const 2)) (then (return (i64.const -1))))
    (call $error_set (i32.const 16) (i32.const 23))
    (i64.const -3)))
