;; refused at load: env.abort imported as (i32, i32) -> () instead of AssemblyScript's (i32, i32, i32, i32) -> ()
(module
  (import "env" "abort" (func (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))
