;; starts: _initialize runs before policy_init, and the exported _start never runs
(module
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (global $initialized (mut i32) (i32.const 0))
  (data (i32.const 16) "_initialize did not run first")
  (func (export "fraglab_abi_v1_0"))
  (func (export "_initialize") (global.set $initialized (i32.const 1)))
  (func (export "_start") (unreachable))
  (func (export "policy_init") (result i64)
    (if (i32.eqz (global.get $initialized))
      (then
        (call $error_set (i32.const 16) (i32.const 29))
        (return (i64.const -3))))
    (i64.const 0)))
