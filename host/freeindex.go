package host

import (
	"math/bits"
	"slices"

	"github.com/google/btree"
)

// btreeDegree is the degree of the address trees of unmapped and placed
// blocks (expandable.go, plan.go); the free index is a blockList.
const btreeDegree = 16

// addrLess orders blocks by address.
func addrLess(a, b *Block) bool { return a.Addr < b.Addr }

type addrTree = btree.BTreeG[*Block]

// freeIndex holds the free (mapped) blocks of one (pool, stream), ordered by
// (size, address) and, when the policy can ask for address order (it
// implements policy_search_order), by address. Without that hook nothing
// reads the address order, so it is not kept: that halves the index work
// of every alloc and free.
type freeIndex struct {
	bySize blockList // key (size, address): best-fit order
	byAddr *blockList
	bytes  int64
}

func newFreeIndex(byAddr bool) *freeIndex {
	f := &freeIndex{}
	if byAddr {
		f.byAddr = &blockList{}
	}
	return f
}

// sizeKey is b's key in the size order; addrKey, in the address order.
func sizeKey(b *Block) blockKey { return blockKey{b.Size, b.Addr} }
func addrKey(b *Block) blockKey { return blockKey{0, b.Addr} }

func (f *freeIndex) insert(b *Block) {
	f.bySize.insert(sizeKey(b), b)
	if f.byAddr != nil {
		f.byAddr.insert(addrKey(b), b)
	}
	f.bytes += b.Size
	b.indexed = true
}

func (f *freeIndex) remove(b *Block) {
	f.bySize.remove(sizeKey(b), b)
	if f.byAddr != nil {
		f.byAddr.remove(addrKey(b), b)
	}
	f.bytes -= b.Size
	b.indexed = false
}

// largest returns the largest free block, or nil.
func (f *freeIndex) largest() *Block { return f.bySize.max() }

// blockKey orders blocks: by size, then by address. The address order uses
// size 0 for every block.
type blockKey struct {
	size int64
	addr uint64
}

// less reports k < o.
func (k blockKey) less(o blockKey) bool { return k.lessBit(o) != 0 }

// lessBit is 1 when k < o, else 0, computed without branches: the borrow
// of the 128-bit subtraction (size, addr) - (o.size, o.addr). Sizes are
// never negative.
func (k blockKey) lessBit(o blockKey) uint64 {
	_, borrow := bits.Sub64(k.addr, o.addr, 0)
	_, borrow = bits.Sub64(uint64(k.size), uint64(o.size), borrow)
	return borrow
}

// maxChunk is the most blocks a blockList chunk holds; a fuller chunk is
// split in two halves, and a chunk that falls under a quarter of it is
// merged with a neighbour when both fit in half a chunk.
const maxChunk = 32

// chunk is a sorted run of at most maxChunk blocks, keys apart from the
// block pointers: a search reads keys from contiguous memory, never the
// blocks themselves, and moving keys needs no write barrier.
type chunk struct {
	n    int
	keys [maxChunk + 1]blockKey
	blks [maxChunk + 1]*Block
}

// search returns the index of the first key of c that is >= k (c.n when
// none is).
func (c *chunk) search(k blockKey) int { return lowerBound(c.keys[:c.n], k) }

// lowerBound returns the index of the first key of keys that is >= k
// (len(keys) when none is): a binary search whose steps are arithmetic, not
// branches (the path of a search is unpredictable; on 20-32 random keys this
// is about 2.5 times as fast as the branching form).
func lowerBound(keys []blockKey, k blockKey) int {
	n := len(keys)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		base += half & -int(keys[base+half].lessBit(k)) // base+half when that key < k
		n -= half
	}
	return base + int(keys[base].lessBit(k))
}

// blockList is a sorted set of blocks by key: a list of sorted chunks of at
// most maxChunk blocks (a two-level sorted array, as Python's
// sortedcontainers). A search is a binary search over the chunks' last
// keys, then one inside a chunk; an insert or remove moves at most maxChunk
// entries of one chunk. Chunks are never empty. It replaces a pointer
// B-tree whose comparisons read the blocks themselves; its iterations visit
// blocks in the same order, key ascending.
type blockList struct {
	chunks []*chunk
	last   []blockKey // last[i] is the last key of chunks[i]
	n      int
	spare  []*chunk // emptied chunks for reuse
	// hint is where ascendFrom found its first block, most often the block
	// an allocation takes and removes next: remove checks it first.
	hint struct{ ci, j int }
}

// Len is the number of blocks.
func (l *blockList) Len() int { return l.n }

// chunkFor returns the index of the first chunk whose last key is >= k;
// len(l.chunks) when every key is < k.
func (l *blockList) chunkFor(k blockKey) int { return lowerBound(l.last, k) }

func (l *blockList) newChunk() *chunk {
	if n := len(l.spare); n > 0 {
		c := l.spare[n-1]
		l.spare = l.spare[:n-1]
		return c
	}
	return &chunk{}
}

// insert adds b with key k; a block already there with key k is replaced.
func (l *blockList) insert(k blockKey, b *Block) {
	if len(l.chunks) == 0 {
		c := l.newChunk()
		c.keys[0], c.blks[0], c.n = k, b, 1
		l.chunks = append(l.chunks, c)
		l.last = append(l.last, k)
		l.n++
		return
	}
	ci := l.chunkFor(k)
	var c *chunk
	if ci == len(l.chunks) { // past every key: the end of the last chunk
		ci--
		c = l.chunks[ci]
		c.keys[c.n], c.blks[c.n] = k, b
		c.n++
		l.last[ci] = k
	} else {
		c = l.chunks[ci]
		j := c.search(k)
		if c.keys[j] == k {
			c.blks[j] = b
			return
		}
		copy(c.keys[j+1:c.n+1], c.keys[j:c.n])
		copy(c.blks[j+1:c.n+1], c.blks[j:c.n])
		c.keys[j], c.blks[j] = k, b
		c.n++
	}
	l.n++
	if c.n > maxChunk {
		h := c.n / 2
		hi := l.newChunk()
		hi.n = copy(hi.keys[:], c.keys[h:c.n])
		copy(hi.blks[:], c.blks[h:c.n])
		clear(c.blks[h:c.n])
		c.n = h
		l.chunks = slices.Insert(l.chunks, ci+1, hi)
		l.last = slices.Insert(l.last, ci+1, l.last[ci])
		l.last[ci] = c.keys[h-1]
	}
}

// remove deletes block b, of key k, if it is there.
func (l *blockList) remove(k blockKey, b *Block) {
	if h := l.hint; h.ci < len(l.chunks) {
		if c := l.chunks[h.ci]; h.j < c.n && c.blks[h.j] == b && c.keys[h.j] == k {
			l.removeAt(h.ci, h.j)
			return
		}
	}
	ci := l.chunkFor(k)
	if ci == len(l.chunks) {
		return
	}
	c := l.chunks[ci]
	j := c.search(k)
	if c.keys[j] != k {
		return
	}
	l.removeAt(ci, j)
}

// removeAt deletes entry j of chunk ci.
func (l *blockList) removeAt(ci, j int) {
	c := l.chunks[ci]
	copy(c.keys[j:c.n-1], c.keys[j+1:c.n])
	copy(c.blks[j:c.n-1], c.blks[j+1:c.n])
	c.n--
	c.blks[c.n] = nil
	l.n--
	if c.n == 0 {
		l.dropChunk(ci)
		return
	}
	l.last[ci] = c.keys[c.n-1]
	if c.n < maxChunk/4 {
		if ci+1 < len(l.chunks) && c.n+l.chunks[ci+1].n <= maxChunk/2 {
			l.mergeNext(ci)
		} else if ci > 0 && c.n+l.chunks[ci-1].n <= maxChunk/2 {
			l.mergeNext(ci - 1)
		}
	}
}

// mergeNext moves chunk ci+1 to the end of chunk ci.
func (l *blockList) mergeNext(ci int) {
	c, d := l.chunks[ci], l.chunks[ci+1]
	copy(c.keys[c.n:], d.keys[:d.n])
	copy(c.blks[c.n:], d.blks[:d.n])
	c.n += d.n
	clear(d.blks[:d.n])
	d.n = 0
	l.last[ci] = l.last[ci+1]
	l.dropChunk(ci + 1)
}

// dropChunk removes empty chunk ci from the list and keeps it for reuse.
func (l *blockList) dropChunk(ci int) {
	l.spare = append(l.spare, l.chunks[ci])
	l.chunks = slices.Delete(l.chunks, ci, ci+1)
	l.last = slices.Delete(l.last, ci, ci+1)
}

// get returns the block with key k, or nil.
func (l *blockList) get(k blockKey) *Block {
	ci := l.chunkFor(k)
	if ci == len(l.chunks) {
		return nil
	}
	c := l.chunks[ci]
	if j := c.search(k); c.keys[j] == k {
		return c.blks[j]
	}
	return nil
}

// max returns the block with the largest key, or nil.
func (l *blockList) max() *Block {
	if len(l.chunks) == 0 {
		return nil
	}
	c := l.chunks[len(l.chunks)-1]
	return c.blks[c.n-1]
}

// ascendFrom calls fn on the blocks of key >= k in ascending order until fn
// returns false. fn must not change the list.
func (l *blockList) ascendFrom(k blockKey, fn func(*Block) bool) {
	ci := l.chunkFor(k)
	if ci == len(l.chunks) {
		return
	}
	j := l.chunks[ci].search(k)
	if j == l.chunks[ci].n { // k lies between two chunks
		ci, j = ci+1, 0
	}
	l.hint.ci, l.hint.j = ci, j
	for ; ci < len(l.chunks); ci, j = ci+1, 0 {
		c := l.chunks[ci]
		for _, b := range c.blks[j:c.n] {
			if !fn(b) {
				return
			}
		}
	}
}

// ascend calls fn on every block in ascending order until fn returns
// false. fn must not change the list.
func (l *blockList) ascend(fn func(*Block) bool) {
	for _, c := range l.chunks {
		for _, b := range c.blks[:c.n] {
			if !fn(b) {
				return
			}
		}
	}
}

// descend calls fn on every block in descending order until fn returns
// false. fn must not change the list.
func (l *blockList) descend(fn func(*Block) bool) {
	for ci := len(l.chunks) - 1; ci >= 0; ci-- {
		c := l.chunks[ci]
		for j := c.n - 1; j >= 0; j-- {
			if !fn(c.blks[j]) {
				return
			}
		}
	}
}
