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

// lowest returns the unmapped block of lowest address for which ok holds,
// or nil. bound is what ok needs at least of a block's size: when no block
// but the last (the highest address) is that large, only the last is
// tried.
func (u *unmappedSet) lowest(bound int64, ok func(*Block) bool) *Block {
	last, _ := u.byAddr.Max()
	var below int64 // the largest size of a block other than last
	u.bySize.descend(func(b *Block) bool {
		if b == last {
			return true
		}
		below = b.Size
		return false
	})
	if below < bound {
		if last != nil && ok(last) {
			return last
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
