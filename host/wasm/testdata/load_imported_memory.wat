;; refused at load: the module imports its memory instead of defining it
(module
  (import "fraglab" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "fraglab_abi_v1_0")))
