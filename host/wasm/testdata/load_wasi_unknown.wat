;; refused at start: wasi_snapshot_preview1.no_such_call is not a WASI function
(module
  (import "wasi_snapshot_preview1" "no_such_call" (func))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
