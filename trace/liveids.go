package trace

import "math/bits"

// liveIDs is the set of live allocation ids a reader checks events
// against, each with where its alloc was read (a line or a byte offset),
// or, once its free was requested (free_requested) and until the free that
// completes it, where that request was read. It gives back its memory once
// it holds far fewer ids than it once did, so a trace whose live set peaks
// once does not pin that peak's memory for the rest of the replay.
//
// It is an open-addressing hash table with linear probing (Fibonacci
// hashing of the id, backward-shift deletion): a reader does one lookup
// per event, and this costs less than a Go map's.
type liveIDs struct {
	slots []liveSlot // len is 0 or a power of two
	n     int
	shift uint8 // 64 - log2(len(slots))
	peak  int   // most ids held since the table was last rebuilt
}

type liveSlot struct {
	id   int64
	at   int64 // where its alloc was read, or ^where its free was requested
	full bool
}

func newLiveIDs() liveIDs { return liveIDs{} }

func (l *liveIDs) home(id int64) int {
	return int((uint64(id) * 0x9e3779b97f4a7c15) >> l.shift)
}

// find returns the slot of id, or of the free slot where it would go.
func (l *liveIDs) find(id int64) (int, bool) {
	mask := len(l.slots) - 1
	for i := l.home(id); ; i = (i + 1) & mask {
		s := &l.slots[i]
		if !s.full {
			return i, false
		}
		if s.id == id {
			return i, true
		}
	}
}

// add records id as allocated at at (≥ 0). When id is already live it
// changes nothing and returns where id was allocated, or where its free
// was requested when pending, and dup true.
func (l *liveIDs) add(id, at int64) (prev int64, pending, dup bool) {
	if 2*(l.n+1) > len(l.slots) {
		l.resize(max(16, 2*len(l.slots)))
	}
	i, ok := l.find(id)
	if ok {
		if v := l.slots[i].at; v < 0 {
			return ^v, true, true
		}
		return l.slots[i].at, false, true
	}
	l.slots[i] = liveSlot{id: id, at: at, full: true}
	l.n++
	l.peak = max(l.peak, l.n)
	return 0, false, false
}

// request records that the free of live id was requested at at (≥ 0): id
// stays live, pending, until remove. It reports live false when id is not
// live, and pending true (with where) when its free was already requested;
// it changes nothing then.
func (l *liveIDs) request(id, at int64) (prev int64, live, pending bool) {
	if l.n == 0 {
		return 0, false, false
	}
	i, ok := l.find(id)
	switch {
	case !ok:
		return 0, false, false
	case l.slots[i].at < 0:
		return ^l.slots[i].at, true, true
	}
	l.slots[i].at = ^at
	return 0, true, false
}

// remove frees id, pending or not; it reports false when id was not live.
func (l *liveIDs) remove(id int64) bool {
	if l.n == 0 {
		return false
	}
	i, ok := l.find(id)
	if !ok {
		return false
	}
	// Backward shift: move later entries of the probe run into the hole
	// when their home does not lie (cyclically) after the hole.
	mask := len(l.slots) - 1
	for j := (i + 1) & mask; l.slots[j].full; j = (j + 1) & mask {
		if h := l.home(l.slots[j].id); (j-h)&mask >= (j-i)&mask {
			l.slots[i] = l.slots[j]
			i = j
		}
	}
	l.slots[i] = liveSlot{}
	l.n--
	if l.peak >= 4096 && l.n <= l.peak/8 {
		size := 16
		for 2*l.n >= size {
			size *= 2
		}
		l.resize(size)
		l.peak = l.n
	}
	return true
}

// resize rehashes into size slots (a power of two above 2n).
func (l *liveIDs) resize(size int) {
	old := l.slots
	l.slots = make([]liveSlot, size)
	l.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s.full {
			i, _ := l.find(s.id)
			l.slots[i] = s
		}
	}
}

// len is the number of live ids, pending ones included.
func (l *liveIDs) len() int { return l.n }
