;; default: fraglab's host defaults as a policy module.
;;
;; The module exports no hook, so the host answers every decision with its
;; default (sdk/ABI.md §4): PyTorch's caching allocator with an empty
;; PYTORCH_CUDA_ALLOC_CONF. It is the baseline other policies are compared
;; against, and the smallest valid policy (ABI §1).
;;
;; Build (from policies/default): wat2wasm default.wat -o default.wasm
(module
  ;; ABI §1: every policy exports its linear memory as "memory". Nothing
  ;; reads it here (no hook, no import); one page keeps it an ordinary
  ;; module.
  (memory (export "memory") 1)

  ;; ABI §1: the version marker, a () -> () function the host never calls.
  ;; Its name says this module is written for policy ABI 1.0.
  (func (export "fraglab_abi_v1_0")))
