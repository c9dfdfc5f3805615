package host

import "github.com/google/btree"

// unmappedSet holds the unmapped blocks of an expandable segment by
// address and by size. Growth looks for the lowest unmapped range that can
// hold a request (expand, growForStitch); once pages of freed blocks have
// been unmapped a segment has many small holes below its large last range,
// and the size order tells at once that none of them can, so the search
// goes straight to the last one instead of walking every hole.
//
// Blocks must be removed before their address or size changes, and
// inserted again after.
type unmappedSet struct {
	byAddr *addrTree
	bySize blockList
}

func newUnmappedSet() *unmappedSet {
	return &unmappedSet{byAddr: btree.NewG(btreeDegree, addrLess)}
}

// ReplaceOrInsert adds b (replacing a block at its address).
func (u *unmappedSet) ReplaceOrInsert(b *Block) {
	if old, ok := u.byAddr.ReplaceOrInsert(b); ok {
		u.bySize.remove(sizeKey(old), old)
	}
	u.bySize.insert(sizeKey(b), b)
}

// Delete removes b.
func (u *unmappedSet) Delete(b *Block) {
	if old, ok := u.byAddr.Delete(b); ok {
		u.bySize.remove(sizeKey(old), old)
	}
}

// Get returns the block at b's address.
func (u *unmappedSet) Get(b *Block) (*Block, bool) { return u.byAddr.Get(b) }

// Len is the number of unmapped blocks.
func (u *unmappedSet) Len() int { return u.byAddr.Len() }

// Ascend calls fn in address order until it returns false.
func (u *unmappedSet) Ascend(fn func(*Block) bool) { u.byAddr.Ascend(fn) }

// DescendLessOrEqual calls fn in descending address order from pivot.
func (u *unmappedSet) DescendLessOrEqual(pivot *Block, fn func(*Block) bool) {
	u.byAddr.DescendLessOrEqual(pivot, fn)
}

// last is the unmapped block of the highest address, or nil.
func (u *unmappedSet) last() *Block {
	b, _ := u.byAddr.Max()
	return b
}

// largestBelowLast is the size of the largest unmapped block other than
// the last one (0 when there is none).
func (u *unmappedSet) largestBelowLast() int64 {
	last := u.last()
	var size int64
	u.bySize.descend(func(b *Block) bool {
		if b == last {
			return true
		}
		size = b.Size
		return false
	})
	return size
}

// lowest returns the unmapped block of lowest address for which ok holds,
// or nil. bound is what ok needs at least of a block's size: when no block
// but the last is that large, only the last is tried.
func (u *unmappedSet) lowest(bound int64, ok func(*Block) bool) *Block {
	if u.largestBelowLast() < bound {
		if l := u.last(); l != nil && ok(l) {
			return l
		}
		return nil
	}
	var found *Block
	u.byAddr.Ascend(func(b *Block) bool {
		if ok(b) {
			found = b
			return false
		}
		return true
	})
	return found
}
