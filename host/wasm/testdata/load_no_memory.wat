;; refused at load: the module does not export its linear memory as "memory"
(module
  (memory 1)
  (func (export "fraglab_abi_v1_0")))
