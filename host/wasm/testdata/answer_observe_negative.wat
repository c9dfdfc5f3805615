;; invalid answer: policy_observe answers -7 (observe may answer any non-negative value or a status)
(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_observe") (param i32 i64 i64 i32) (result i64) (i64.const -7)))
