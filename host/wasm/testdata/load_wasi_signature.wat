;; refused at start: wasi_snapshot_preview1.fd_write imported with a wrong signature (Compile does not check WASI signatures)
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
