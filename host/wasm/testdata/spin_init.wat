;; a runaway policy_init: it never returns
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64)
    (loop $forever (br $forever))
    (i64.const 0)))
