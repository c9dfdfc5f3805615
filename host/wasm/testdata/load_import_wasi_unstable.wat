;; refused at load: wasi_unstable is not an allowed import module (only wasi_snapshot_preview1)
(module
  (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
