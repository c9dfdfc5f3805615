;; benchmark: policy_pick_block scans the n candidate records and picks the one with the lowest address (first fit)
(module
  (memory (export "memory") 2)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_scratch") (param i32) (result i32) (i32.const 1024))
  (func (export "policy_pick_block") (param $n i32) (param i64 i32 i32 i32) (result i64)
    (local $i i32) (local $best i32) (local $best_addr i64) (local $addr i64)
    (local.set $best_addr (i64.const -1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $addr (i64.load offset=1032 (i32.mul (local.get $i) (i32.const 48))))
        (if (i64.lt_u (local.get $addr) (local.get $best_addr))
          (then
            (local.set $best_addr (local.get $addr))
            (local.set $best (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.extend_i32_u (local.get $best))))
