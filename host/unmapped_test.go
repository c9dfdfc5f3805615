package host

import (
	"math/rand"
	"testing"
)

// TestUnmappedSetLowest: on random sets of holes, lowest finds what a walk
// in address order finds, for requests that need at least bound bytes of
// a hole (with and without a free block below it adding to the hole).
func TestUnmappedSetLowest(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		u := newUnmappedSet()
		var blocks []*Block
		addr := uint64(1 << 30)
		for i, n := 0, 1+r.Intn(40); i < n; i++ {
			addr += uint64(1+r.Intn(8)) << 21
			b := &Block{Addr: addr, Size: int64(1+r.Intn(16)) << 21}
			addr += uint64(b.Size)
			blocks = append(blocks, b)
			u.ReplaceOrInsert(b)
		}
		for _, b := range blocks { // drop some, re-add a few resized
			if r.Intn(3) == 0 {
				u.Delete(b)
				if r.Intn(2) == 0 {
					b.Size = int64(1+r.Intn(16)) << 21
					u.ReplaceOrInsert(b)
				}
			}
		}
		for q := 0; q < 20; q++ {
			extra := int64(r.Intn(3)) << 21 // what a free block below adds
			need := int64(1+r.Intn(20)) << 21
			bound := max(need-extra, 1)
			ok := func(b *Block) bool { return b.Size+extra >= need }
			var want *Block
			u.byAddr.Ascend(func(b *Block) bool {
				if ok(b) {
					want = b
					return false
				}
				return true
			})
			if got := u.lowest(bound, ok); got != want {
				t.Fatalf("trial %d: lowest(%d) = %v, a walk finds %v", trial, bound, got, want)
			}
		}
		if u.bySize.Len() != u.Len() {
			t.Fatalf("trial %d: %d by size, %d by address", trial, u.bySize.Len(), u.Len())
		}
	}
}
