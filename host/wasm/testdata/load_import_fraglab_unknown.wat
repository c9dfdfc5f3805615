;; refused at load: fraglab.clock is not an import the host provides
(module
  (import "fraglab" "clock" (func (result i64)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
