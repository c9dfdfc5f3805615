;; refused at load: the version marker must be () -> (), this one takes an i32
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0") (param i32)))
