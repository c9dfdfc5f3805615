package fraglab

import "unsafe"

// The bodies of the policy_* exports. exports_wasip1.go wraps each in a
// //go:wasmexport function; under plain Go, FakeHost calls them the way the
// host calls the exports, so the glue is tested natively too.
//
// Every hook but policyInit must not allocate: one interface call through
// the variable bind set, or Defer for a hook the policy lacks (the host
// never calls those: they are left out of the hook mask).

// scratch receives the candidate records before policy_pick_block and the
// plan records before policy_plan (MaxCandidates and PlanBatch records of
// the same size fill it alike). It is a package variable, so it never moves (Go's heap and data do not move), and
// 8-byte aligned (Candidate holds int64s).
var scratch [MaxCandidates]Candidate

// scratchFits reports whether the scratch buffer holds minBytes.
func scratchFits(minBytes int32) bool {
	return minBytes >= 0 && int64(minBytes) <= int64(len(scratch))*RecordSize
}

// RecordSize is the size in bytes of one candidate record.
const RecordSize = 48

// The ABI minor that introduced each config key the SDK sets, named in the
// error when a host refuses one.
const (
	hooksMinor        = 1
	mergeRepeatMinor  = 2
	reserveLimitMinor = 3
	stitchKeepMinor   = 5
)

// policyInit runs Init, then declares the candidate window, repeated
// merges, the reserve limit, stitch keeping and the hook mask.
func policyInit() int64 {
	if registered == nil {
		return Errorf("no policy registered: call fraglab.Register(p) from an init function of package main")
	}
	if initer != nil {
		if err := initer.Init(); err != nil {
			setError(err.Error())
			return Error
		}
	}
	if windowed != nil {
		w := windowed.CandidateWindow()
		if got := hostConfig(ConfigCandidateWindow, int64(w)); got != int64(w) {
			return Errorf("candidate window %d: must be 1..%d", w, MaxCandidates)
		}
	}
	if mergeRepeater != nil && mergeRepeater.MergeRepeat() {
		if got := hostConfig(ConfigMergeRepeat, 1); got != 1 {
			return Errorf("config(%d, 1) answered %d: the host does not accept repeated merges (ABI %d.%d needed)",
				ConfigMergeRepeat, got, ABIMajor, mergeRepeatMinor)
		}
	}
	if reserveLimiter != nil {
		if limit := reserveLimiter.ReserveLimit(); limit > 0 {
			if got := hostConfig(ConfigReserveLimit, limit); got != limit {
				return Errorf("config(%d, %d) answered %d: the host does not accept the reserve limit (ABI %d.%d needed; at most %d bytes)",
					ConfigReserveLimit, limit, got, ABIMajor, reserveLimitMinor, MaxSize)
			}
		}
	}
	if stitchKeeper != nil && stitchKeeper.StitchKeep() {
		if got := hostConfig(ConfigStitchKeep, 1); got != 1 {
			return Errorf("config(%d, 1) answered %d: the host does not keep stitched blocks (ABI %d.%d needed)",
				ConfigStitchKeep, got, ABIMajor, stitchKeepMinor)
		}
	}
	mask := HookMask(registered)
	if got := hostConfig(ConfigHooks, mask); got != mask {
		return Errorf("config(%d, %#x) answered %d: the host does not accept the hook mask (ABI %d.%d needed)",
			ConfigHooks, mask, got, ABIMajor, hooksMinor)
	}
	return 0
}

func policyRoundSize(size int64, stream, tag int32) int64 {
	if roundSizer == nil {
		return Defer
	}
	return roundSizer.RoundSize(size, stream, tag)
}

func policyChoosePool(rounded int64, stream, tag int32) int64 {
	if poolChooser == nil {
		return Defer
	}
	return poolChooser.ChoosePool(rounded, stream, tag)
}

func policySearchOrder(rounded int64, pool, stream, tag int32) int64 {
	if searchOrderer == nil {
		return Defer
	}
	return searchOrderer.SearchOrder(rounded, pool, stream, tag)
}

func policyPickBlock(n int32, rounded int64, pool, stream, tag int32) int64 {
	if blockPicker == nil {
		return Defer
	}
	if n < 1 || int(n) > len(scratch) {
		setError("policy_pick_block: n out of range 1..256")
		return Error
	}
	return blockPicker.PickBlock(scratch[:n:n], rounded, pool, stream, tag)
}

func policySplit(blockSize, rounded int64, pool, stream, flags, tag int32) int64 {
	if splitter == nil {
		return Defer
	}
	return splitter.Split(blockSize, rounded, pool, stream, flags, tag)
}

func policyMerge(blockSize, neighbourSize int64, pool, side int32) int64 {
	if merger == nil {
		return Defer
	}
	return merger.Merge(blockSize, neighbourSize, pool, side)
}

func policySegmentMode(pool, stream int32) int64 {
	if segmentModer == nil {
		return Defer
	}
	return segmentModer.SegmentMode(pool, stream)
}

func policySegmentSize(rounded int64, pool, stream, tag int32) int64 {
	if segmentSizer == nil {
		return Defer
	}
	return segmentSizer.SegmentSize(rounded, pool, stream, tag)
}

func policyExpandSize(missing, rounded int64, pool, stream int32, page int64) int64 {
	if expandSizer == nil {
		return Defer
	}
	return expandSizer.ExpandSize(missing, rounded, pool, stream, page)
}

func policyRelease(phase int32, rounded int64, pool, stream, attempt int32) int64 {
	if releaser == nil {
		return Defer
	}
	return releaser.Release(phase, rounded, pool, stream, attempt)
}

func policyObserve(kind int32, id, size int64, tag int32) int64 {
	if observer == nil {
		return Defer
	}
	return observer.Observe(kind, id, size, tag)
}

// planRecords is the scratch buffer seen as plan records.
var planRecords = (*[PlanBatch]PlanRecord)(unsafe.Pointer(&scratch))

// The scratch buffer holds exactly PlanBatch plan records.
var (
	_ [unsafe.Sizeof(scratch) - PlanBatch*PlanRecordSize]struct{}
	_ [PlanBatch*PlanRecordSize - unsafe.Sizeof(scratch)]struct{}
)

func policyPlan(count, done int32) int64 {
	if planner == nil {
		return Defer
	}
	if count < 0 || count > PlanBatch {
		setError("policy_plan: count out of range 0..256")
		return Error
	}
	arena, err := planner.Plan(planRecords[:count:count], done != 0)
	if err != nil {
		setError(err.Error())
		return Error
	}
	if done == 0 {
		return 0
	}
	return arena
}

func policyPlace(id, rounded int64, pool, stream, tag int32) int64 {
	if planner == nil {
		return Defer
	}
	return planner.Place(id, rounded, pool, stream, tag)
}
