;; refused at load: two version markers (exactly one is allowed)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "fraglab_abi_v1_1")))
