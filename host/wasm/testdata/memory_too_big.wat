;; refused at start when the instance's memory limit is below the 4 pages this module declares
(module
  (memory (export "memory") 4)
  (func (export "fraglab_abi_v1_0")))
