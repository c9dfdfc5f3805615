;; refused at load: the marker declares ABI 1.9, a minor above the host's 1.0
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_9")))
