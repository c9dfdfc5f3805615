;; benchmark: policy_round_size shaped like clang -O2 output of a C policy (stack pointer global, branch-free rounding up to 512)
(module
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 66560))
  (func (export "fraglab_abi_v1_0"))
  (func $policy_round_size (export "policy_round_size") (param $size i64) (param $stream i32) (param $tag i32) (result i64)
    (select
      (i64.const 512)
      (i64.and (i64.add (local.get $size) (i64.const 511)) (i64.const -512))
      (i64.lt_s (local.get $size) (i64.const 512)))))
