// Package policies holds fraglab's built-in policies: policy modules compiled
// to WebAssembly and embedded in the binary, so a run can name them without
// a file. Each lives in its own directory with its source, its committed
// .wasm and a README; build.sh rebuilds them all.
//
//   - default: no hooks; every decision is the host default (sdk/ABI.md §4).
//   - pytorch: PyTorch's CUDA caching allocator rules, written in C against
//     the C SDK (sdk/c/fraglab.h).
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

// builtins maps each built-in's name to its module.
var builtins = map[string][]byte{
	"default": defaultWasm,
	"pytorch": pytorchWasm,
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
