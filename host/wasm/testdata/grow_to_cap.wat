;; hostile memory use: every policy_round_size grows memory one page at a time until memory.grow fails (-1) at the cap, then defers
(module
  (memory (export "memory") 1)
  (global (export "g_pages") (mut i64) (i64.const 0))
  (global (export "g_failed") (mut i64) (i64.const 0))
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64)
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    (global.set 1 (i64.add (global.get 1) (i64.const 1)))
    (global.set 0 (i64.extend_i32_u (memory.size)))
    (i64.const -1)))
