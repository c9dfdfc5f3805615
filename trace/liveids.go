package trace

// liveIDs is the set of live allocation ids a reader checks events
// against, each with where its alloc was read (a line or a byte offset).
// It gives back its memory once it holds far fewer ids than it once did:
// Go maps never shrink, and a trace whose live set peaks once should not
// pin that peak's memory for the rest of the replay.
type liveIDs struct {
	m    map[int64]int64
	peak int // most entries of m since it was last rebuilt
}

func newLiveIDs() liveIDs { return liveIDs{m: make(map[int64]int64)} }

// add records id as allocated at at. When id is already live it changes
// nothing and returns where id was allocated and true.
func (l *liveIDs) add(id, at int64) (prev int64, dup bool) {
	if prev, dup = l.m[id]; dup {
		return prev, true
	}
	l.m[id] = at
	l.peak = max(l.peak, len(l.m))
	return 0, false
}

// remove frees id; it reports false when id was not live.
func (l *liveIDs) remove(id int64) bool {
	if _, ok := l.m[id]; !ok {
		return false
	}
	delete(l.m, id)
	if l.peak >= 4096 && len(l.m) <= l.peak/8 {
		m := make(map[int64]int64, len(l.m))
		for id, at := range l.m {
			m[id] = at
		}
		l.m, l.peak = m, len(m)
	}
	return true
}

// len is the number of live ids.
func (l *liveIDs) len() int { return len(l.m) }
