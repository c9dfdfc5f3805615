;; refused at load: the marker fraglab_abi_v1 has no _<minor> part
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1")))
