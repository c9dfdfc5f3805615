;; refused at start: the reactor entry point _initialize traps (unreachable)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "_initialize") (unreachable)))
