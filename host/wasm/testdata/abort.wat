;; AssemblyScript: env.abort is an allowed import; policy_round_size aborts for requests above 1 MiB, which traps with the message
(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  ;; AssemblyScript strings: the byte length at ptr-4, then UTF-16LE text at ptr
  (data (i32.const 12) "\1c\00\00\00\73\00\69\00\7a\00\65\00\20\00\74\00\6f\00\6f\00\20\00\6c\00\61\00\72\00\67\00\65\00")   ;; "size too large" at 16
  (data (i32.const 60) "\22\00\00\00\61\00\73\00\73\00\65\00\6d\00\62\00\6c\00\79\00\2f\00\69\00\6e\00\64\00\65\00\78\00\2e\00\74\00\73\00")   ;; "assembly/index.ts" at 64
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param $size i64) (param i32 i32) (result i64)
    (if (i64.gt_s (local.get $size) (i64.const 1048576))
      (then
        (call $abort (i32.const 16) (i32.const 64) (i32.const 12) (i32.const 5))
        (unreachable)))
    (i64.const -1)))
