;; refused at load: the module exports no fraglab_abi_v<major>_<minor> version marker
(module
  (memory (export "memory") 1)
  (func (export "policy_init") (result i64) (i64.const 0)))
