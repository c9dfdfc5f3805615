;; plans an arena of 4 MiB and places allocation id at offset (id-1) MiB.
;; It counts the records it was given (global records), the calls
;; (global calls), and keeps the requested size of the first record and
;; the free index of the last (globals first_size, last_free); the scratch
;; size it was asked for is global scratch_min.
(module
  (memory (export "memory") 1)
  (global $records (export "records") (mut i64) (i64.const 0))
  (global $calls (export "calls") (mut i64) (i64.const 0))
  (global $first_size (export "first_size") (mut i64) (i64.const -1))
  (global $last_free (export "last_free") (mut i64) (i64.const -1))
  (global $scratch_min (export "scratch_min") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_5"))
  (func (export "policy_scratch") (param $min i32) (result i32)
    (global.set $scratch_min (i64.extend_i32_u (local.get $min)))
    (i32.const 1024))
  (func (export "policy_plan") (param $count i32) (param $done i32) (result i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (if (i32.and (i64.lt_s (global.get $first_size) (i64.const 0)) (i32.gt_s (local.get $count) (i32.const 0)))
      (then (global.set $first_size (i64.load offset=8 (i32.const 1024)))))
    (if (i32.gt_s (local.get $count) (i32.const 0))
      (then (global.set $last_free
        (i64.load offset=24 (i32.add (i32.const 1024) (i32.mul (i32.sub (local.get $count) (i32.const 1)) (i32.const 48)))))))
    (global.set $records (i64.add (global.get $records) (i64.extend_i32_u (local.get $count))))
    (if (result i64) (local.get $done)
      (then (i64.const 4194304))
      (else (i64.const 0))))
  (func (export "policy_place") (param $id i64) (param i64 i32 i32 i32) (result i64)
    (i64.shl (i64.sub (local.get $id) (i64.const 1)) (i64.const 20))))
