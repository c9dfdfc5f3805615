;; trap: policy_round_size calls WASI proc_exit(3), which ends the policy like a trap
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64)
    (call $proc_exit (i32.const 3))
    (i64.const -1)))
