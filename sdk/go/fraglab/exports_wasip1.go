//go:build wasip1

package fraglab

import "unsafe"

// The module's exports (sdk/ABI.md §1, §3). The SDK exports every hook; the
// hook mask that policyInit declares tells the host which ones the policy
// really implements, and the host never calls the others.

// fraglabABIv15 is the version marker (ABIMajor.ABIMinor); the host never
// calls it.
//
//go:wasmexport fraglab_abi_v1_5
func fraglabABIv15() {}

//go:wasmexport policy_init
func exportInit() int64 { return policyInit() }

//go:wasmexport policy_scratch
func exportScratch(minBytes int32) int32 {
	if !scratchFits(minBytes) {
		return 0
	}
	return int32(uintptr(unsafe.Pointer(&scratch[0])))
}

//go:wasmexport policy_round_size
func exportRoundSize(size int64, stream, tag int32) int64 {
	return policyRoundSize(size, stream, tag)
}

//go:wasmexport policy_choose_pool
func exportChoosePool(rounded int64, stream, tag int32) int64 {
	return policyChoosePool(rounded, stream, tag)
}

//go:wasmexport policy_search_order
func exportSearchOrder(rounded int64, pool, stream, tag int32) int64 {
	return policySearchOrder(rounded, pool, stream, tag)
}

//go:wasmexport policy_pick_block
func exportPickBlock(n int32, rounded int64, pool, stream, tag int32) int64 {
	return policyPickBlock(n, rounded, pool, stream, tag)
}

//go:wasmexport policy_split
func exportSplit(blockSize, rounded int64, pool, stream, flags, tag int32) int64 {
	return policySplit(blockSize, rounded, pool, stream, flags, tag)
}

//go:wasmexport policy_merge
func exportMerge(blockSize, neighbourSize int64, pool, side int32) int64 {
	return policyMerge(blockSize, neighbourSize, pool, side)
}

//go:wasmexport policy_segment_mode
func exportSegmentMode(pool, stream int32) int64 {
	return policySegmentMode(pool, stream)
}

//go:wasmexport policy_segment_size
func exportSegmentSize(rounded int64, pool, stream, tag int32) int64 {
	return policySegmentSize(rounded, pool, stream, tag)
}

//go:wasmexport policy_expand_size
func exportExpandSize(missing, rounded int64, pool, stream int32, page int64) int64 {
	return policyExpandSize(missing, rounded, pool, stream, page)
}

//go:wasmexport policy_release
func exportRelease(phase int32, rounded int64, pool, stream, attempt int32) int64 {
	return policyRelease(phase, rounded, pool, stream, attempt)
}

//go:wasmexport policy_observe
func exportObserve(kind int32, id, size int64, tag int32) int64 {
	return policyObserve(kind, id, size, tag)
}

//go:wasmexport policy_plan
func exportPlan(count, done int32) int64 { return policyPlan(count, done) }

//go:wasmexport policy_place
func exportPlace(id, rounded int64, pool, stream, tag int32) int64 {
	return policyPlace(id, rounded, pool, stream, tag)
}
