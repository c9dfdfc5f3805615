;; WASI sandbox: policy_observe(0) answers 8 bytes of random_get, policy_observe(1) the realtime clock; both must be deterministic
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_observe") (param $kind i32) (param i64 i64 i32) (result i64)
    (if (i32.eqz (local.get $kind))
      (then
        (drop (call $random_get (i32.const 64) (i32.const 8)))
        (return (i64.load (i32.const 64)))))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 64)))
    (i64.load (i32.const 64))))
