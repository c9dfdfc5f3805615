package host

import "math/bits"

// idMap maps allocation ids to their blocks: an open-addressing hash table
// with linear probing (Fibonacci hashing of the id, backward-shift
// deletion, no tombstones). It does the work of a map[int64]*Block in the
// replay's hottest path with less hashing and probing; it grows at half
// full and shrinks under an eighth, so its memory follows the live ids.
type idMap struct {
	slots []idSlot // len is a power of two; a nil block marks a free slot
	n     int
	shift uint8 // 64 - log2(len(slots))
}

type idSlot struct {
	id int64
	b  *Block
}

const idMapMin = 16

func (m *idMap) home(id int64) int {
	return int((uint64(id) * 0x9e3779b97f4a7c15) >> m.shift)
}

// Len is the number of ids.
func (m *idMap) Len() int { return m.n }

// get returns the block of id.
func (m *idMap) get(id int64) (*Block, bool) {
	if m.n == 0 {
		return nil, false
	}
	mask := len(m.slots) - 1
	for i := m.home(id); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.b == nil {
			return nil, false
		}
		if s.id == id {
			return s.b, true
		}
	}
}

// set maps id to b (not nil), replacing what id had.
func (m *idMap) set(id int64, b *Block) {
	if 2*(m.n+1) > len(m.slots) {
		m.resize(max(idMapMin, 2*len(m.slots)))
	}
	mask := len(m.slots) - 1
	for i := m.home(id); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.b == nil {
			s.id, s.b = id, b
			m.n++
			return
		}
		if s.id == id {
			s.b = b
			return
		}
	}
}

// del removes id, if it is there.
func (m *idMap) del(id int64) {
	if m.n == 0 {
		return
	}
	mask := len(m.slots) - 1
	i := m.home(id)
	for {
		s := &m.slots[i]
		if s.b == nil {
			return
		}
		if s.id == id {
			break
		}
		i = (i + 1) & mask
	}
	// Backward shift: move later entries of the probe run into the hole
	// when their home does not lie (cyclically) in (hole, their slot].
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := m.slots[j]
		if s.b == nil {
			break
		}
		if h := m.home(s.id); (j-h)&mask >= (j-i)&mask {
			m.slots[i] = s
			i = j
		}
	}
	m.slots[i] = idSlot{}
	m.n--
	if len(m.slots) > idMapMin && 8*m.n < len(m.slots) {
		m.resize(len(m.slots) / 2)
	}
}

// resize rehashes into size slots (a power of two above 2n).
func (m *idMap) resize(size int) {
	old := m.slots
	m.slots = make([]idSlot, size)
	m.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	m.n = 0
	for _, s := range old {
		if s.b != nil {
			m.set(s.id, s.b)
		}
	}
}

// each calls fn on every id and block, in no particular order.
func (m *idMap) each(fn func(id int64, b *Block)) {
	for _, s := range m.slots {
		if s.b != nil {
			fn(s.id, s.b)
		}
	}
}
