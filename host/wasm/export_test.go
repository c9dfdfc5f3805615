package wasm

// Global returns the raw bits of the exported global name of the instance's
// module, and whether it exists. Tests use it to see what a policy stored
// while the host called it.
func (in *Instance) Global(name string) (uint64, bool) {
	g := in.inst.ExportedGlobal(name)
	if g == nil {
		return 0, false
	}
	return g.Get(), true
}

// HoldGC is holdGC, for the tests of package wasm_test.
var HoldGC = holdGC
