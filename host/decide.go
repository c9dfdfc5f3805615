package host

import (
	"github.com/fraglab/fraglab/sdk/abi"
)

// This file asks the policy for each decision and validates the answer
// (sdk/ABI.md §2–3). Each ask* method returns the decision to carry out:
// the policy's valid answer or, on DEFER or a missing hook, the default.

// args holds a hook's arguments for error reports without allocating on the
// hot path.
type args struct {
	v [6]int64
	n int
}

func (x args) list() []int64 { return append([]int64(nil), x.v[:x.n]...) }

// status classifies an answer: it returns done=true with a non-nil error
// for a trap, ERROR or an invalid negative; done=true, err=nil for DEFER
// (use the default); done=false for a non-negative answer (or NONE when
// allowed) still to be range-checked.
func (a *Allocator) status(h abi.Hook, ans int64, err error, x args, allowNone bool) (bool, error) {
	a.stats.HookCalls[h]++
	if err != nil {
		return true, a.policyFailed(&PolicyError{Event: a.event, Hook: h, Args: x.list(), Trap: err, Reason: a.pol.ErrorText()})
	}
	if ans >= 0 || (ans == abi.None && allowNone) {
		return false, nil
	}
	switch ans {
	case abi.Defer:
		a.stats.HookDefers[h]++
		return true, nil
	case abi.Error:
		return true, a.policyFailed(&PolicyError{Event: a.event, Hook: h, Args: x.list(), Answer: ans, Reason: a.pol.ErrorText()})
	}
	reason := "negative answers must be DEFER (-1) or ERROR (-3)"
	if allowNone {
		reason = "negative answers must be DEFER (-1), NONE (-2) or ERROR (-3)"
	}
	return true, a.invalid(h, ans, x, reason)
}

func (a *Allocator) invalid(h abi.Hook, ans int64, x args, reason string) error {
	return a.policyFailed(&PolicyError{Event: a.event, Hook: h, Args: x.list(), Answer: ans, Reason: reason})
}

// policyFailed handles a policy failure: it ends the run (the error is returned),
// or, with Options.Fallback, records it and hands every later decision to
// the host defaults (nil is returned and the caller uses the default).
func (a *Allocator) policyFailed(e *PolicyError) error {
	if !a.opts.Fallback {
		return e
	}
	if a.policyErr == nil {
		a.policyErr = e
	}
	a.has = [abi.NumHooks]bool{}
	return nil
}

func (a *Allocator) roundSize(size int64, stream, tag int32) (int64, error) {
	if !a.has[abi.HookRoundSize] {
		return DefaultRoundSize(size), nil
	}
	ans, err := a.pol.RoundSize(size, stream, tag)
	x := args{v: [6]int64{size, int64(stream), int64(tag)}, n: 3}
	if done, err := a.status(abi.HookRoundSize, ans, err, x, false); done {
		return DefaultRoundSize(size), err
	}
	if ans < size || ans%MinBlockSize != 0 || ans > MaxSize {
		return DefaultRoundSize(size), a.invalid(abi.HookRoundSize, ans, x, "the rounded size must be ≥ the request, a multiple of 512 and ≤ 2^48")
	}
	return ans, nil
}

func (a *Allocator) choosePool(rounded int64, stream, tag int32) (int32, error) {
	if !a.has[abi.HookChoosePool] {
		return DefaultPool(rounded), nil
	}
	ans, err := a.pol.ChoosePool(rounded, stream, tag)
	x := args{v: [6]int64{rounded, int64(stream), int64(tag)}, n: 3}
	if done, err := a.status(abi.HookChoosePool, ans, err, x, false); done {
		return DefaultPool(rounded), err
	}
	if ans >= abi.MaxPools {
		return DefaultPool(rounded), a.invalid(abi.HookChoosePool, ans, x, "pool ids are 0..7")
	}
	return int32(ans), nil
}

func (a *Allocator) searchOrder(rounded int64, pool, stream, tag int32) (int64, error) {
	if !a.has[abi.HookSearchOrder] {
		return abi.OrderBestFit, nil
	}
	ans, err := a.pol.SearchOrder(rounded, pool, stream, tag)
	x := args{v: [6]int64{rounded, int64(pool), int64(stream), int64(tag)}, n: 4}
	if done, err := a.status(abi.HookSearchOrder, ans, err, x, false); done {
		return abi.OrderBestFit, err
	}
	if ans > abi.OrderLargest {
		return abi.OrderBestFit, a.invalid(abi.HookSearchOrder, ans, x, "search orders are 0 (best fit), 1 (address) and 2 (largest first)")
	}
	return ans, nil
}

// pickDefer is pick's answer for DEFER; NONE is abi.None.
const pickDefer = -1

func (a *Allocator) pick(n int, rounded int64, pool, stream, tag int32) (int, error) {
	ans, err := a.pol.PickBlock(a.cands[:n], rounded, pool, stream, tag)
	x := args{v: [6]int64{int64(n), rounded, int64(pool), int64(stream), int64(tag)}, n: 5}
	if done, err := a.status(abi.HookPickBlock, ans, err, x, true); done {
		return pickDefer, err
	}
	if ans == abi.None {
		return abi.None, nil
	}
	if ans >= int64(n) {
		return pickDefer, a.invalid(abi.HookPickBlock, ans, x, "the answer must be a candidate index in [0, n) or NONE (-2)")
	}
	return int(ans), nil
}

func (a *Allocator) split(blockSize, rounded int64, pool, stream, flags, tag int32) (int64, error) {
	def := DefaultSplit(blockSize, rounded, pool, flags)
	if !a.has[abi.HookSplit] {
		return def, nil
	}
	ans, err := a.pol.Split(blockSize, rounded, pool, stream, flags, tag)
	x := args{v: [6]int64{blockSize, rounded, int64(pool), int64(stream), int64(flags), int64(tag)}, n: 6}
	if done, err := a.status(abi.HookSplit, ans, err, x, false); done {
		return def, err
	}
	if ans < rounded || ans > blockSize || ans%MinBlockSize != 0 {
		return def, a.invalid(abi.HookSplit, ans, x, "the front piece must be a multiple of 512 between the rounded size and the block size (the block size: no split)")
	}
	return ans, nil
}

func (a *Allocator) merge(blockSize, neighbourSize int64, pool, side int32) (bool, error) {
	if !a.has[abi.HookMerge] {
		return true, nil
	}
	ans, err := a.pol.Merge(blockSize, neighbourSize, pool, side)
	x := args{v: [6]int64{blockSize, neighbourSize, int64(pool), int64(side)}, n: 4}
	if done, err := a.status(abi.HookMerge, ans, err, x, false); done {
		return true, err
	}
	if ans > 1 {
		return true, a.invalid(abi.HookMerge, ans, x, "the answer must be 1 (merge) or 0 (keep apart)")
	}
	return ans == 1, nil
}

// segmentMode returns 0 for classic segments or the page size of the
// expandable segment of (pool, stream); it asks once per pair.
func (a *Allocator) segmentMode(pool, stream int32) (int64, error) {
	if m := a.modes[pool][stream]; m >= 0 {
		return m, nil
	}
	var mode int64
	if a.has[abi.HookSegmentMode] {
		ans, err := a.pol.SegmentMode(pool, stream)
		x := args{v: [6]int64{int64(pool), int64(stream)}, n: 2}
		done, err := a.status(abi.HookSegmentMode, ans, err, x, false)
		if err != nil {
			return 0, err
		}
		if !done {
			if ans > 0 && ans%a.gran != 0 {
				err = a.invalid(abi.HookSegmentMode, ans, x, "the answer must be 0 (classic) or a page size that is a multiple of the device granularity")
				if err != nil {
					return 0, err
				}
				ans = 0
			}
			mode = ans
		}
	}
	a.modes[pool][stream] = mode
	return mode, nil
}

func (a *Allocator) segmentSize(rounded int64, pool, stream, tag int32) (int64, error) {
	def := DefaultSegmentSize(rounded)
	if !a.has[abi.HookSegmentSize] {
		return def, nil
	}
	ans, err := a.pol.SegmentSize(rounded, pool, stream, tag)
	x := args{v: [6]int64{rounded, int64(pool), int64(stream), int64(tag)}, n: 4}
	if done, err := a.status(abi.HookSegmentSize, ans, err, x, false); done {
		return def, err
	}
	if ans < rounded || ans%MinBlockSize != 0 || ans > MaxSize {
		return def, a.invalid(abi.HookSegmentSize, ans, x, "the segment size must be ≥ the rounded size, a multiple of 512 and ≤ 2^48")
	}
	return ans, nil
}

func (a *Allocator) expandSize(missing, rounded int64, pool, stream int32, page, room int64) (int64, error) {
	def := roundUp(missing, page)
	if !a.has[abi.HookExpandSize] {
		return def, nil
	}
	ans, err := a.pol.ExpandSize(missing, rounded, pool, stream, page)
	x := args{v: [6]int64{missing, rounded, int64(pool), int64(stream), page}, n: 5}
	if done, err := a.status(abi.HookExpandSize, ans, err, x, false); done {
		return def, err
	}
	if ans < missing || ans%page != 0 {
		return def, a.invalid(abi.HookExpandSize, ans, x, "the bytes to map must be a multiple of the page and ≥ the missing bytes")
	}
	if ans > room {
		return def, a.invalid(abi.HookExpandSize, ans, x, "the bytes to map exceed the segment's reserved range")
	}
	return ans, nil
}

func (a *Allocator) release(phase int32, rounded int64, pool, stream, attempt int32) (int64, error) {
	x := args{v: [6]int64{int64(phase), rounded, int64(pool), int64(stream), int64(attempt)}, n: 5}
	def := DefaultRelease(phase, attempt)
	if attempt >= abi.MaxReleaseAttempts {
		return abi.ActNothing, a.invalid(abi.HookRelease, abi.ActNothing, x, "too many release attempts for one allocation (at most 16)")
	}
	if !a.has[abi.HookRelease] {
		return def, nil
	}
	ans, err := a.pol.Release(phase, rounded, pool, stream, attempt)
	if done, err := a.status(abi.HookRelease, ans, err, x, false); done {
		return def, err
	}
	act, arg := ans&abi.ActionMask, ans>>abi.ActionBits
	switch {
	case act > abi.ActReleaseStitched || (act > abi.ActReleaseAged && !a.stitchOK):
		if a.stitchOK {
			return def, a.invalid(abi.HookRelease, ans, x, "unknown release action (the low 4 bits must be 0..5)")
		}
		return def, a.invalid(abi.HookRelease, ans, x, "unknown release action (the low 4 bits must be 0..3; stitch (4) and release stitched (5) need ABI 1.5)")
	case (act == abi.ActNothing || act == abi.ActReleaseCached) && arg != 0:
		return def, a.invalid(abi.HookRelease, ans, x, "actions nothing (0) and release cached (1) take no argument")
	case act == abi.ActStitch && arg != 0 && arg != abi.StitchGrow:
		return def, a.invalid(abi.HookRelease, ans, x, "action stitch (4) takes argument 0 (free pages only) or 1 (grow for the rest)")
	case act == abi.ActReleaseStitched && arg != 0:
		return def, a.invalid(abi.HookRelease, ans, x, "action release stitched (5) takes no argument")
	case (act == abi.ActReleaseOver || act == abi.ActReleaseAged) && arg == 0:
		return def, a.invalid(abi.HookRelease, ans, x, "actions release oversize (2) and release aged (3) need an argument > 0 (arg<<4 | action)")
	}
	return ans, nil
}

func (a *Allocator) observe(kind int32, id, size int64, tag int32) error {
	ans, err := a.pol.Observe(kind, id, size, tag)
	x := args{v: [6]int64{int64(kind), id, size, int64(tag)}, n: 4}
	_, err = a.status(abi.HookObserve, ans, err, x, false)
	return err
}
