;; refused at load: the marker declares ABI major 2, which this host (1.0) does not implement
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v2_0")))
