;; trap: policy_round_size counts its calls in g_calls and hits unreachable on the fourth
(module
  (memory (export "memory") 1)
  (global $calls (export "g_calls") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (if (i64.eq (global.get $calls) (i64.const 4)) (then (unreachable)))
    (i64.const -1)))
