;; error_set keeps at most 4 KiB: policy_round_size gives a 5000-byte reason (all 'x'; with size 2, an 'é' straddles byte 4096) and answers ERROR
(module
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param $size i64) (param i32 i32) (result i64)
    (memory.fill (i32.const 0) (i32.const 120) (i32.const 5000))
    (if (i64.eq (local.get $size) (i64.const 2))
      (then (i32.store16 (i32.const 4095) (i32.const 0xa9c3))))
    (call $error_set (i32.const 0) (i32.const 5000))
    (i64.const -3)))
