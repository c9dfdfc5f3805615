// Package policies holds fraglab's built-in policies: policy modules compiled
// to WebAssembly and embedded in the binary, so a run can name them without
// a file. Each lives in its own directory with its source, its committed
// .wasm and a README; build.sh rebuilds them all.
//
//   - default: no hooks; every decision is the host default (sdk/ABI.md §4).
//   - pytorch: PyTorch's CUDA caching allocator rules, written in C against
//     the C SDK (sdk/c/fraglab.h).
//   - pytorch-expandable: PyTorch with expandable_segments on, as a preset (C).
//   - first-fit: address-ordered first fit (WAT).
//   - best-fit-nosplit-large: best fit that never splits blocks outside the
//     small pool (WAT).
//   - buddy: binary buddy, power-of-two sizes, halving splits (C).
//   - size-class: size classes per power of two, RMM arena style (C).
//   - lifetime-aware: long-lived tags in a pool of their own (C).
//   - rmm-pool: RMM pool growth, doubling, never releasing (C).
//   - prealloc-arena: one big arena at the first growth (C).
//   - tlsf: Two-Level Segregated Fit, good-fit lists (Rust).
//   - bfc: TensorFlow's best-fit with coalescing, doubling regions (C).
//   - planner: offline planner (ABI 1.5): the workload's allocations laid
//     out in one arena by greedy best-fit over their lifetimes, the rest
//     PyTorch's rules (C, including pytorch/pytorch.c).
//   - gmlake: GMLake's virtual memory stitching (ABI 1.5): large requests
//     served from free pages of several segments stitched together (C).
package policies

import (
	_ "embed"
	"maps"
	"slices"
)

//go:embed default/default.wasm
var defaultWasm []byte

//go:embed pytorch/pytorch.wasm
var pytorchWasm []byte

//go:embed pytorch-expandable/pytorch-expandable.wasm
var pytorchExpandableWasm []byte

//go:embed first-fit/first-fit.wasm
var firstFitWasm []byte

//go:embed best-fit-nosplit-large/best-fit-nosplit-large.wasm
var bestFitNosplitLargeWasm []byte

//go:embed buddy/buddy.wasm
var buddyWasm []byte

//go:embed size-class/size-class.wasm
var sizeClassWasm []byte

//go:embed lifetime-aware/lifetime-aware.wasm
var lifetimeAwareWasm []byte

//go:embed rmm-pool/rmm-pool.wasm
var rmmPoolWasm []byte

//go:embed prealloc-arena/prealloc-arena.wasm
var preallocArenaWasm []byte

//go:embed tlsf/tlsf.wasm
var tlsfWasm []byte

//go:embed bfc/bfc.wasm
var bfcWasm []byte

//go:embed planner/planner.wasm
var plannerWasm []byte

//go:embed gmlake/gmlake.wasm
var gmlakeWasm []byte

// builtins maps each built-in's name to its module.
var builtins = map[string][]byte{
	"default": defaultWasm,
	"pytorch": pytorchWasm,

	"pytorch-expandable":     pytorchExpandableWasm,
	"first-fit":              firstFitWasm,
	"best-fit-nosplit-large": bestFitNosplitLargeWasm,
	"buddy":                  buddyWasm,
	"size-class":             sizeClassWasm,
	"lifetime-aware":         lifetimeAwareWasm,
	"rmm-pool":               rmmPoolWasm,
	"prealloc-arena":         preallocArenaWasm,
	"tlsf":                   tlsfWasm,
	"bfc":                    bfcWasm,
	"planner":                plannerWasm,
	"gmlake":                 gmlakeWasm,
}

// Builtin returns the WebAssembly module of the built-in policy name, and
// whether there is one. The slice is the caller's own copy.
func Builtin(name string) ([]byte, bool) {
	b, ok := builtins[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(b), true
}

// Names returns the names of the built-in policies, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(builtins))
}
