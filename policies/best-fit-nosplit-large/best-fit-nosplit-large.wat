;; best-fit-nosplit-large: best fit that never splits a block outside the
;; small pool.
;;
;; The host default search (best fit, sdk/ABI.md §4) picks the smallest free
;; block that fits. policy_split keeps every block of pools 1..7 whole (it
;; answers block_size) and leaves pool 0 to the host default (DEFER: split
;; off any remainder of at least 512 bytes). A large request then never
;; leaves a sliver of a large segment behind, at the cost of internal
;; fragmentation when a big free block serves a small request. Every other
;; decision is the host default. No parameters.
;;
;; Build (from policies/best-fit-nosplit-large):
;;   wat2wasm best-fit-nosplit-large.wat -o best-fit-nosplit-large.wasm
(module
  (memory (export "memory") 1)

  ;; ABI 1.0 version marker.
  (func (export "fraglab_abi_v1_0"))

  ;; policy_split(block_size, rounded, pool, stream, flags, tag) -> the
  ;; front piece: block_size (no split) for pool != 0, DEFER (-1) for pool 0.
  (func (export "policy_split")
    (param $block_size i64) (param $rounded i64) (param $pool i32)
    (param $stream i32) (param $flags i32) (param $tag i32)
    (result i64)
    (if (result i64) (i32.eqz (local.get $pool))
      (then (i64.const -1))
      (else (local.get $block_size)))))
