package trace

import (
	"math/rand"
	"testing"
)

// TestLiveIDs compares liveIDs with a Go map holding the same encoding on
// random adds, requests and removes of ids from dense, sparse and strided
// ranges, through growth and the rebuild after a peak.
func TestLiveIDs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ids, step  int64
		ops        int
		drainAfter int // from this op on, mostly removes
	}{
		{"dense", 6000, 1, 60000, 40000},
		{"sparse", 1 << 50, 1, 40000, 30000},
		{"strided", 8000, 1 << 24, 40000, 30000},
		{"few", 10, 1, 3000, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(5))
			l := newLiveIDs()
			ref := map[int64]int64{}
			var present []int64
			pick := func() int64 {
				if len(present) > 0 && rng.Intn(3) > 0 {
					return present[rng.Intn(len(present))]
				}
				return rng.Int63n(tc.ids) * tc.step
			}
			for op := 0; op < tc.ops; op++ {
				id, at := pick(), int64(op)
				r := rng.Intn(10)
				if op >= tc.drainAfter {
					r = 9
				}
				switch {
				case r < 5:
					prev, pending, dup := l.add(id, at)
					v, ok := ref[id]
					if dup != ok || (ok && (pending != (v < 0) || (v < 0 && prev != ^v) || (v >= 0 && prev != v))) {
						t.Fatalf("op %d: add(%d) = %d, %v, %v; reference %d, %v", op, id, prev, pending, dup, v, ok)
					}
					if !ok {
						ref[id] = at
						present = append(present, id)
					}
				case r < 7:
					prev, live, pending := l.request(id, at)
					v, ok := ref[id]
					if live != ok || (ok && (pending != (v < 0) || (v < 0 && prev != ^v))) {
						t.Fatalf("op %d: request(%d) = %d, %v, %v; reference %d, %v", op, id, prev, live, pending, v, ok)
					}
					if ok && v >= 0 {
						ref[id] = ^at
					}
				default:
					_, ok := ref[id]
					if got := l.remove(id); got != ok {
						t.Fatalf("op %d: remove(%d) = %v, reference %v", op, id, got, ok)
					}
					delete(ref, id)
				}
				if l.len() != len(ref) {
					t.Fatalf("op %d: len %d, reference %d", op, l.len(), len(ref))
				}
				if op%1000 == 0 { // forget removed ids now and then
					kept := present[:0]
					for _, id := range present {
						if _, ok := ref[id]; ok {
							kept = append(kept, id)
						}
					}
					present = kept
				}
			}
			for id, v := range ref {
				if _, live, pending := l.request(id, 0); !live || pending != (v < 0) {
					t.Fatalf("id %d: live %v pending %v, reference %d", id, live, pending, v)
				}
			}
			if len(ref) < 100 && len(l.slots) > 1<<12 {
				t.Errorf("%d ids left in %d slots: the table was not rebuilt", len(ref), len(l.slots))
			}
		})
	}
}
