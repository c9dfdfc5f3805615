;; first-fit: the classic first-fit allocator (Knuth, TAOCP vol. 1, §2.5)
;; on fraglab's host mechanism.
;;
;; policy_search_order answers 1 (address ascending) for every request, so
;; the free blocks that fit are offered lowest address first. The module
;; exports no policy_pick_block: the host then takes the first candidate
;; (host/allocator.go findBlock), that is the lowest-addressed free block
;; large enough. Every other decision (rounding, pools, segment sizes,
;; splits, merges, releases) is the host default (sdk/ABI.md §4).
;; No parameters.
;;
;; Build (from policies/first-fit): wat2wasm first-fit.wat -o first-fit.wasm
(module
  (memory (export "memory") 1)

  ;; ABI 1.0 version marker.
  (func (export "fraglab_abi_v1_0"))

  ;; policy_search_order(rounded, pool, stream, tag) -> 1: address order.
  (func (export "policy_search_order")
    (param $rounded i64) (param $pool i32) (param $stream i32) (param $tag i32)
    (result i64)
    (i64.const 1)))
