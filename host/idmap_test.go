package host

import (
	"math/rand"
	"testing"
)

// TestIDMap compares idMap with a Go map on random sets, gets and deletes
// of ids drawn from small, dense and sparse ranges (collisions, growth and
// shrinking).
func TestIDMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  int64 // ids are drawn from [0, ids) times stride
		step int64
		ops  int
	}{
		{"dense", 3000, 1, 50000},
		{"sparse", 1 << 40, 1, 50000},
		{"strided", 5000, 1 << 20, 50000},
		{"few", 20, 1, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(2))
			var m idMap
			ref := map[int64]*Block{}
			for op := 0; op < tc.ops; op++ {
				id := rng.Int63n(tc.ids) * tc.step
				if rng.Intn(8) == 0 {
					id = -id
				}
				// more deletes in the second half: the table shrinks
				del := rng.Intn(100) < 40+30*(2*op/tc.ops)
				if del {
					m.del(id)
					delete(ref, id)
				} else {
					b := &Block{ID: id}
					m.set(id, b)
					ref[id] = b
				}
				if m.Len() != len(ref) {
					t.Fatalf("op %d: len %d, reference %d", op, m.Len(), len(ref))
				}
				probe := rng.Int63n(tc.ids) * tc.step
				if b, ok := m.get(probe); b != ref[probe] || ok != (ref[probe] != nil) {
					t.Fatalf("op %d: get(%d) = %v, %v", op, probe, b, ok)
				}
			}
			n := 0
			m.each(func(id int64, b *Block) {
				n++
				if ref[id] != b {
					t.Fatalf("each: id %d has the wrong block", id)
				}
			})
			if n != len(ref) {
				t.Fatalf("each visits %d ids, reference %d", n, len(ref))
			}
			for id := range ref {
				if b, ok := m.get(id); !ok || b != ref[id] {
					t.Fatalf("get(%d) misses", id)
				}
			}
		})
	}
}
