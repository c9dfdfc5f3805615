;; refused at load: fraglab.log imported as (i32, i32) -> () instead of (i32, i32, i32) -> ()
(module
  (import "fraglab" "log" (func (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
