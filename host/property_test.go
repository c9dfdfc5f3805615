package host

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// randomPolicy answers every hook with a random valid answer (or DEFER,
// NONE where allowed) through the same Policy contract a Wasm module uses.
type randomPolicy struct {
	r     *rand.Rand
	hooks [abi.NumHooks]bool
	page  [abi.MaxPools]int64
}

func newRandomPolicy(seed int64) *randomPolicy {
	p := &randomPolicy{r: rand.New(rand.NewSource(seed))}
	for h := abi.HookRoundSize; h < abi.NumHooks; h++ {
		p.hooks[h] = p.r.Intn(3) > 0
	}
	for i := range p.page {
		p.page[i] = []int64{0, 0, 2 << 20, 20 << 20}[p.r.Intn(4)]
	}
	return p
}

func (p *randomPolicy) Implements(h abi.Hook) bool { return p.hooks[h] }
func (p *randomPolicy) CandidateWindow() int       { return 1 + p.r.Intn(8) }
func (p *randomPolicy) ErrorText() string          { return "" }
func (p *randomPolicy) deferSometimes(v int64) (int64, error) {
	if p.r.Intn(8) == 0 {
		return abi.Defer, nil
	}
	return v, nil
}

func (p *randomPolicy) RoundSize(size int64, _, _ int32) (int64, error) {
	return p.deferSometimes(roundUp(size, 512) + 512*int64(p.r.Intn(3)))
}
func (p *randomPolicy) ChoosePool(rounded int64, _, _ int32) (int64, error) {
	return p.deferSometimes(int64(p.r.Intn(3)))
}
func (p *randomPolicy) SearchOrder(int64, int32, int32, int32) (int64, error) {
	return p.deferSometimes(int64(p.r.Intn(3)))
}
func (p *randomPolicy) PickBlock(c []abi.Candidate, rounded int64, _, _, _ int32) (int64, error) {
	for _, x := range c {
		if x.Size < rounded || x.Size%512 != 0 {
			return 0, errors.New("host offered a candidate smaller than the request")
		}
	}
	if p.r.Intn(6) == 0 {
		return abi.None, nil
	}
	return p.deferSometimes(int64(p.r.Intn(len(c))))
}
func (p *randomPolicy) Split(blockSize, rounded int64, _, _, _, _ int32) (int64, error) {
	switch p.r.Intn(4) {
	case 0:
		return blockSize, nil
	case 1: // buddy-style halving while the half still fits
		if h := blockSize / 2; h >= rounded && h%512 == 0 {
			return h, nil
		}
		return blockSize, nil
	case 2:
		return rounded, nil
	}
	return p.deferSometimes(rounded + roundUp(p.r.Int63n(blockSize-rounded+1), 512)/512*512%(blockSize-rounded+512))
}
func (p *randomPolicy) Merge(int64, int64, int32, int32) (int64, error) {
	return p.deferSometimes(int64(p.r.Intn(4)/3 ^ 1))
}
func (p *randomPolicy) SegmentMode(pool, _ int32) (int64, error) { return p.page[pool], nil }
func (p *randomPolicy) SegmentSize(rounded int64, _, _, _ int32) (int64, error) {
	return p.deferSometimes(roundUp(rounded, 512) + 512*int64(p.r.Intn(4096)))
}
func (p *randomPolicy) ExpandSize(missing, _ int64, _, _ int32, page int64) (int64, error) {
	return p.deferSometimes(roundUp(missing, page))
}
func (p *randomPolicy) Release(phase int32, _ int64, _, _, attempt int32) (int64, error) {
	if attempt >= 3 {
		return abi.ActNothing, nil
	}
	switch p.r.Intn(5) {
	case 0:
		return abi.ActNothing, nil
	case 1:
		return abi.ActReleaseCached, nil
	case 2:
		return (p.r.Int63n(64<<20)+1)<<abi.ActionBits | abi.ActReleaseOver, nil
	case 3:
		return (p.r.Int63n(64<<20)+1)<<abi.ActionBits | abi.ActReleaseAged, nil
	}
	return abi.Defer, nil
}
func (p *randomPolicy) Observe(int32, int64, int64, int32) (int64, error) { return 0, nil }

// TestRandomPoliciesKeepInvariants replays random workloads under random
// valid policies on small devices and checks every invariant after every
// event. Any panic or broken invariant fails.
func TestRandomPoliciesKeepInvariants(t *testing.T) {
	seeds := 60
	events := 1500
	if testing.Short() {
		seeds, events = 10, 500
	}
	for seed := int64(0); seed < int64(seeds); seed++ {
		r := rand.New(rand.NewSource(seed))
		capacity := []int64{0, 64 << 20, 200 << 20, 1 << 30}[r.Intn(4)]
		var pol Policy = newRandomPolicy(seed)
		if seed%5 == 0 {
			pol = NoHooks{}
		}
		a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), pol, Options{})
		var live []int64
		next := int64(0)
		for i := 0; i < events; i++ {
			a.SetEvent(int64(i))
			var err error
			switch k := r.Intn(10); {
			case k < 5 || len(live) == 0:
				size := randomSize(r)
				err = a.Alloc(next, size, int64(r.Intn(2)), int32(r.Intn(3)))
				if _, ok := a.Live(next); ok {
					live = append(live, next)
				}
				next++
			case k < 9:
				j := r.Intn(len(live))
				err = a.Free(live[j])
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
			default:
				err = a.EmptyCache()
			}
			if err != nil {
				t.Fatalf("seed %d event %d: %v", seed, i, err)
			}
			if err := a.Check(); err != nil {
				t.Fatalf("seed %d event %d: invariant broken: %v", seed, i, err)
			}
		}
		if capacity > 0 {
			if s := a.Stats(); s.PeakReserved > capacity {
				t.Fatalf("seed %d: peak reserved %d above capacity %d", seed, s.PeakReserved, capacity)
			}
		}
	}
}

// randomSize draws request sizes across PyTorch's boundaries.
func randomSize(r *rand.Rand) int64 {
	switch r.Intn(5) {
	case 0:
		return 1 + r.Int63n(4096)
	case 1:
		return 1 + r.Int63n(1<<20)
	case 2:
		return (1 << 20) + r.Int63n(9<<20)
	case 3:
		return []int64{512, 1 << 20, 10 << 20, 2 << 20, 20 << 20}[r.Intn(5)]
	}
	return (10 << 20) + r.Int63n(60<<20)
}

// TestRandomPoliciesReachEveryPath guards the property test's reach: across
// its seeds the random workloads must exercise OOMs, releases, maps and
// unmaps, or the invariant checks above prove little.
func TestRandomPoliciesReachEveryPath(t *testing.T) {
	var total Stats
	for seed := int64(0); seed < 20; seed++ {
		r := rand.New(rand.NewSource(seed))
		a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: 128 << 20}), newRandomPolicy(seed), Options{})
		var live []int64
		for i := int64(0); i < 800; i++ {
			a.SetEvent(i)
			if r.Intn(2) == 0 || len(live) == 0 {
				if err := a.Alloc(i, randomSize(r), 0, 0); err != nil {
					t.Fatal(err)
				}
				if _, ok := a.Live(i); ok {
					live = append(live, i)
				}
				continue
			}
			j := r.Intn(len(live))
			if err := a.Free(live[j]); err != nil {
				t.Fatal(err)
			}
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
		}
		s := a.Stats()
		total.OOMs += s.OOMs
		total.SegmentFrees += s.SegmentFrees
		total.SegmentMaps += s.SegmentMaps
		total.SegmentUnmaps += s.SegmentUnmaps
	}
	if total.OOMs == 0 || total.SegmentFrees == 0 || total.SegmentMaps == 0 || total.SegmentUnmaps == 0 {
		t.Errorf("paths not reached: OOMs %d, segment frees %d, maps %d, unmaps %d",
			total.OOMs, total.SegmentFrees, total.SegmentMaps, total.SegmentUnmaps)
	}
}

// TestRandomPoolsKeepInvariants drives random workloads with private
// pools, frees that wait for other streams, pool releases and empty_cache
// calls of the whole cache and of one pool under random policies, checking
// every invariant after every event. At the end, an empty_cache of each
// released pool and of the whole cache leaves no releasable segment.
func TestRandomPoolsKeepInvariants(t *testing.T) {
	seeds, events := 30, 1000
	if testing.Short() {
		seeds, events = 6, 400
	}
	var scoped, synced int64
	for seed := int64(0); seed < int64(seeds); seed++ {
		r := rand.New(rand.NewSource(seed))
		capacity := []int64{0, 96 << 20, 1 << 30}[r.Intn(3)]
		var pol Policy = newRandomPolicy(seed)
		if seed%4 == 0 {
			pol = NoHooks{}
		}
		a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), pol, Options{})
		var live, waiting []int64
		next := int64(0)
		released := func(p int64) bool {
			for _, pp := range a.PrivatePools() {
				if pp.ID == p {
					return pp.Released
				}
			}
			return false
		}
		for i := 0; i < events; i++ {
			a.SetEvent(int64(i))
			var err error
			pools := a.PrivatePools()
			switch k := r.Intn(20); {
			case k < 9 || len(live) == 0:
				pool := int64(r.Intn(4))
				if pool != 0 && released(pool) {
					pool = 0
				}
				err = a.AllocIn(next, randomSize(r), int64(r.Intn(2)), pool, 0)
				if _, ok := a.Live(next); ok {
					live = append(live, next)
				}
				next++
			case k < 15:
				j := r.Intn(len(live))
				id := live[j]
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
				if r.Intn(4) == 0 {
					err = a.FreeRequested(id)
					waiting = append(waiting, id)
				} else {
					err = a.Free(id)
				}
			case k < 16 && len(waiting) > 0:
				j := r.Intn(len(waiting))
				err = a.Free(waiting[j]) // completes it, or a no-op after a synchronisation
				waiting[j] = waiting[len(waiting)-1]
				waiting = waiting[:len(waiting)-1]
			case k < 18 && len(pools) > 0:
				p := pools[r.Intn(len(pools))]
				if !p.Released {
					err = a.ReleasePool(p.ID)
				}
			case k < 19 && len(pools) > 0:
				err = a.EmptyCachePool(pools[r.Intn(len(pools))].ID)
				scoped++
			default:
				err = a.EmptyCache()
			}
			if err != nil {
				t.Fatalf("seed %d event %d: %v", seed, i, err)
			}
			if err := a.Check(); err != nil {
				t.Fatalf("seed %d event %d: invariant broken: %v", seed, i, err)
			}
		}
		for _, p := range a.PrivatePools() {
			if p.Released {
				if err := a.EmptyCachePool(p.ID); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
			}
		}
		for _, p := range a.PrivatePools() {
			if p.Released {
				// Its remaining segments must hold live (or waiting) blocks.
				for _, seg := range a.Segments() {
					if seg.PrivatePool == p.ID && !seg.Expandable() && len(seg.Blocks()) == 1 && !seg.Blocks()[0].Allocated {
						t.Fatalf("seed %d: released pool %d keeps a whole free segment after its empty_cache", seed, p.ID)
					}
				}
			}
		}
		synced += a.Stats().SyncedFrees
		if err := a.Check(); err != nil {
			t.Fatalf("seed %d: invariant broken: %v", seed, err)
		}
	}
	if scoped == 0 || synced == 0 {
		t.Errorf("paths not reached: %d empty_caches of a pool, %d synchronised frees", scoped, synced)
	}
}
