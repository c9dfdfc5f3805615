;; reads an i64, an f64 and a string parameter in policy_init; policy_observe(kind) answers what it read
(module
  (import "fraglab" "param_i64" (func $param_i64 (param i32 i32 i64) (result i64)))
  (import "fraglab" "param_f64" (func $param_f64 (param i32 i32 f64) (result f64)))
  (import "fraglab" "param_str" (func $param_str (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "alpha")
  (data (i32.const 32) "beta")
  (data (i32.const 48) "name")
  ;; the string buffer, pre-filled so the test sees whether the host wrote it
  (data (i32.const 1024) "################################")
  (global $alpha (mut i64) (i64.const 0))
  (global $beta (mut f64) (f64.const 0))
  (global $first (mut i64) (i64.const 0))   ;; param_str with a 4-byte buffer
  (global $before (mut i64) (i64.const 0))  ;; buffer bytes 0..7 after the first call
  (global $second (mut i64) (i64.const 0))  ;; param_str again with a 32-byte buffer, if the value did not fit
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64)
    (global.set $alpha (call $param_i64 (i32.const 16) (i32.const 5) (i64.const 7)))
    (global.set $beta (call $param_f64 (i32.const 32) (i32.const 4) (f64.const 0.5)))
    (global.set $first (i64.extend_i32_s
      (call $param_str (i32.const 48) (i32.const 4) (i32.const 1024) (i32.const 4))))
    (global.set $before (i64.load (i32.const 1024)))
    (if (i64.gt_s (global.get $first) (i64.const 4))
      (then
        (global.set $second (i64.extend_i32_s
          (call $param_str (i32.const 48) (i32.const 4) (i32.const 1024) (i32.const 32))))))
    (i64.const 0))
  ;; kind 0: alpha; 1: the bits of beta; 2: first param_str answer; 3: buffer after it;
  ;; 4: second param_str answer; 5..8: buffer bytes 0..31, 8 at a time
  (func (export "policy_observe") (param $kind i32) (param i64 i64 i32) (result i64)
    (if (i32.eqz (local.get $kind)) (then (return (global.get $alpha))))
    (if (i32.eq (local.get $kind) (i32.const 1)) (then (return (i64.reinterpret_f64 (global.get $beta)))))
    (if (i32.eq (local.get $kind) (i32.const 2)) (then (return (global.get $first))))
    (if (i32.eq (local.get $kind) (i32.const 3)) (then (return (global.get $before))))
    (if (i32.eq (local.get $kind) (i32.const 4)) (then (return (global.get $second))))
    (if (i32.le_u (local.get $kind) (i32.const 8))
      (then (return (i64.load (i32.add (i32.const 1024)
        (i32.shl (i32.sub (local.get $kind) (i32.const 5)) (i32.const 3)))))))
    (i64.const -3)))
