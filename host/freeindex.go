package host

import "github.com/google/btree"

const btreeDegree = 16

// sizeLess orders blocks by (size, address): best-fit order.
func sizeLess(a, b *Block) bool {
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	return a.Addr < b.Addr
}

// addrLess orders blocks by address.
func addrLess(a, b *Block) bool { return a.Addr < b.Addr }

type addrTree = btree.BTreeG[*Block]

// freeIndex holds the free (mapped) blocks of one (pool, stream), ordered by
// (size, address) and, when the policy can ask for address order (it
// implements policy_search_order), by address. Without that hook nothing
// reads the address order, so it is not kept: that halves the index work
// of every alloc and free.
type freeIndex struct {
	bySize *btree.BTreeG[*Block]
	byAddr *btree.BTreeG[*Block]
	bytes  int64
}

func newFreeIndex(byAddr bool) *freeIndex {
	f := &freeIndex{bySize: btree.NewG(btreeDegree, sizeLess)}
	if byAddr {
		f.byAddr = btree.NewG(btreeDegree, addrLess)
	}
	return f
}

func (f *freeIndex) insert(b *Block) {
	f.bySize.ReplaceOrInsert(b)
	if f.byAddr != nil {
		f.byAddr.ReplaceOrInsert(b)
	}
	f.bytes += b.Size
	b.indexed = true
}

func (f *freeIndex) remove(b *Block) {
	f.bySize.Delete(b)
	if f.byAddr != nil {
		f.byAddr.Delete(b)
	}
	f.bytes -= b.Size
	b.indexed = false
}

// largest returns the largest free block, or nil.
func (f *freeIndex) largest() *Block {
	b, _ := f.bySize.Max()
	return b
}
