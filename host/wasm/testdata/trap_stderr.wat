;; trap: policy_round_size writes a line to stderr (WASI fd_write) and then traps; the line joins the error
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; one iovec at 0: buf 64, len 27; bytes written go to 8
  (data (i32.const 0) "\40\00\00\00\1b\00\00\00")
  (data (i32.const 64) "policy: invariant violated\n")
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64)
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (unreachable)))
