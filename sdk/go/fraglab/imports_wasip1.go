//go:build wasip1

package fraglab

import "unsafe"

// Host imports of module "fraglab" (sdk/ABI.md §5). Pointers are
// addresses in the module's linear memory (i32); strings are (pointer,
// byte length) and never NUL-terminated. Go's heap does not move, so
// passing a pointer to a Go value for the duration of a call is safe.

//go:wasmimport fraglab log
//go:noescape
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport fraglab error_set
//go:noescape
func hostErrorSet(ptr unsafe.Pointer, n int32)

//go:wasmimport fraglab param_i64
//go:noescape
func hostParamI64(name unsafe.Pointer, nameLen int32, def int64) int64

//go:wasmimport fraglab param_f64
//go:noescape
func hostParamF64(name unsafe.Pointer, nameLen int32, def float64) float64

//go:wasmimport fraglab param_str
//go:noescape
func hostParamStr(name unsafe.Pointer, nameLen int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport fraglab stat
func hostStat(key, arg int32) int64

//go:wasmimport fraglab tag_name
//go:noescape
func hostTagName(tag int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport fraglab config
func hostConfig(key int32, value int64) int64
