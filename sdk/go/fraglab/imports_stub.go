//go:build !wasip1

package fraglab

import "unsafe"

// Outside WebAssembly the host imports are answered by the current
// FakeHost (see NewFakeHost), so policies run and test under plain go
// test. The pointers are ordinary Go pointers here.

func goString(p unsafe.Pointer, n int32) string {
	if n <= 0 {
		return ""
	}
	return unsafe.String((*byte)(p), n)
}

func goBytes(p unsafe.Pointer, n int32) []byte {
	if n <= 0 || p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func hostLog(level int32, ptr unsafe.Pointer, n int32) {
	fake().log(level, goString(ptr, n))
}

func hostErrorSet(ptr unsafe.Pointer, n int32) {
	fake().errorSet(goString(ptr, n))
}

func hostParamI64(name unsafe.Pointer, nameLen int32, def int64) int64 {
	return fake().paramI64(goString(name, nameLen), def)
}

func hostParamF64(name unsafe.Pointer, nameLen int32, def float64) float64 {
	return fake().paramF64(goString(name, nameLen), def)
}

func hostParamStr(name unsafe.Pointer, nameLen int32, buf unsafe.Pointer, limit int32) int32 {
	return fake().paramStr(goString(name, nameLen), goBytes(buf, limit))
}

func hostStat(key, arg int32) int64 { return fake().stat(key, arg) }

func hostTagName(tag int32, buf unsafe.Pointer, limit int32) int32 {
	return fake().tagName(tag, goBytes(buf, limit))
}

func hostConfig(key int32, value int64) int64 { return fake().config(key, value) }
