package host

import (
	"math/rand"
	"slices"
	"testing"
)

// blockEntry is one block of the reference with its key.
type blockEntry struct {
	key blockKey
	b   *Block
}

// refList is the naive reference of a blockList: a slice sorted by key.
type refList []blockEntry

func (r *refList) insert(k blockKey, b *Block) {
	i, found := slices.BinarySearchFunc(*r, k, cmpEntry)
	if found {
		(*r)[i].b = b
		return
	}
	*r = slices.Insert(*r, i, blockEntry{k, b})
}

func (r *refList) remove(k blockKey) {
	if i, found := slices.BinarySearchFunc(*r, k, cmpEntry); found {
		*r = slices.Delete(*r, i, i+1)
	}
}

func cmpEntry(e blockEntry, k blockKey) int {
	switch {
	case e.key.less(k):
		return -1
	case k.less(e.key):
		return 1
	}
	return 0
}

// TestBlockList compares a blockList with the reference on random inserts,
// removes and searches, for several key spaces: few sizes (long runs of
// equal sizes, ordered by address), many sizes, and address-only keys.
func TestBlockList(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sizes  int64 // distinct sizes (0: address keys)
		addrs  int64 // distinct addresses
		ops    int
		insert float64 // share of inserts among updates
	}{
		{"few sizes", 4, 5000, 20000, 0.6},
		{"many sizes", 1 << 20, 1 << 20, 20000, 0.55},
		{"address keys", 0, 4000, 20000, 0.5},
		{"grow then drain", 64, 1 << 16, 30000, 0.5},
		{"tiny", 3, 8, 2000, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			var l blockList
			var ref refList
			key := func() blockKey {
				k := blockKey{addr: uint64(rng.Int63n(tc.addrs)) * 512}
				if tc.sizes > 0 {
					k.size = (1 + rng.Int63n(tc.sizes)) * 512
				}
				return k
			}
			for op := 0; op < tc.ops; op++ {
				share := tc.insert
				if tc.name == "grow then drain" && op > tc.ops/2 {
					share = 0.1
				}
				switch r := rng.Float64(); {
				case r < share:
					k := key()
					b := &Block{Addr: k.addr, Size: k.size}
					l.insert(k, b)
					ref.insert(k, b)
				case r < share+0.15 && len(ref) > 0: // best fit then take: remove by the hint
					var got *Block
					l.ascendFrom(blockKey{key().size, 0}, func(b *Block) bool { got = b; return false })
					if got != nil {
						k := blockKey{got.Size, got.Addr}
						if tc.sizes == 0 {
							k.size = 0
						}
						l.remove(k, got)
						ref.remove(k)
					}
				case r < 0.9 && len(ref) > 0:
					k := ref[rng.Intn(len(ref))].key // a present key
					l.remove(k, l.get(k))
					ref.remove(k)
				default:
					k := key() // most likely absent
					l.remove(k, l.get(k))
					ref.remove(k)
				}
				if l.Len() != len(ref) {
					t.Fatalf("op %d: len %d, reference %d", op, l.Len(), len(ref))
				}
				if op%97 == 0 {
					compare(t, op, &l, ref, key())
				}
			}
			compare(t, tc.ops, &l, ref, key())
			for len(ref) > 0 { // drain
				k := ref[rng.Intn(len(ref))].key
				l.remove(k, l.get(k))
				ref.remove(k)
			}
			compare(t, -1, &l, ref, key())
			if len(l.chunks) != 0 || len(l.last) != 0 {
				t.Fatalf("drained list keeps %d chunks", len(l.chunks))
			}
		})
	}
}

// compare checks every query of l against the reference.
func compare(t *testing.T, op int, l *blockList, ref refList, from blockKey) {
	t.Helper()
	var got []*Block
	l.ascend(func(b *Block) bool { got = append(got, b); return true })
	want := make([]*Block, len(ref))
	for i, e := range ref {
		want[i] = e.b
	}
	if !slices.Equal(got, want) {
		t.Fatalf("op %d: ascend differs from the reference", op)
	}
	got = got[:0]
	l.descend(func(b *Block) bool { got = append(got, b); return true })
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("op %d: descend differs from the reference", op)
	}
	slices.Reverse(want)
	i, _ := slices.BinarySearchFunc(ref, from, cmpEntry)
	for _, limit := range []int{1, 3, 1 << 30} {
		got = got[:0]
		l.ascendFrom(from, func(b *Block) bool { got = append(got, b); return len(got) < limit })
		w := want[i:]
		if len(w) > limit {
			w = w[:limit]
		}
		if !slices.Equal(got, w) {
			t.Fatalf("op %d: ascendFrom(%v) limit %d: %d blocks, reference %d", op, from, limit, len(got), len(w))
		}
	}
	var wantMax *Block
	if len(ref) > 0 {
		wantMax = ref[len(ref)-1].b
	}
	if l.max() != wantMax {
		t.Fatalf("op %d: max differs", op)
	}
	for _, e := range ref {
		if l.get(e.key) != e.b {
			t.Fatalf("op %d: get(%v) misses", op, e.key)
		}
	}
	if _, found := slices.BinarySearchFunc(ref, from, cmpEntry); !found && l.get(from) != nil {
		t.Fatalf("op %d: get(%v) finds an absent key", op, from)
	}
	for ci, c := range l.chunks {
		if c.n == 0 || c.n > maxChunk || l.last[ci] != c.keys[c.n-1] {
			t.Fatalf("op %d: chunk %d: %d entries, last key %v", op, ci, c.n, l.last[ci])
		}
	}
}

// BenchmarkBlockList: an insert, a best-fit search and a remove on a list
// of about 150 blocks (the free lists of synth.Mixed hold about that).
func BenchmarkBlockList(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	var l blockList
	keys := make([]blockKey, 300)
	for i := range keys {
		keys[i] = blockKey{(1 + rng.Int63n(1<<12)) * 512, uint64(i) << 20}
		if i%2 == 0 {
			l.insert(keys[i], &Block{})
		}
	}
	blk := &Block{}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)|1]
		l.insert(k, blk)
		l.ascendFrom(blockKey{k.size, 0}, func(*Block) bool { return false })
		l.remove(k, l.get(k))
	}
}
