;; refused at load: env.clock is imported; only env.abort is allowed from module env
(module
  (import "env" "clock" (func (result i64)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
