package trace

// liveIDs is the set of live allocation ids a reader checks events
// against, each with where its alloc was read (a line or a byte offset),
// or, once its free was requested (free_requested) and until the free that
// completes it, where that request was read. It gives back its memory once
// it holds far fewer ids than it once did: Go maps never shrink, and a
// trace whose live set peaks once should not pin that peak's memory for
// the rest of the replay.
type liveIDs struct {
	m    map[int64]int64 // id -> where its alloc was read, or ^where its free was requested
	peak int             // most entries of m since it was last rebuilt
}

func newLiveIDs() liveIDs { return liveIDs{m: make(map[int64]int64)} }

// add records id as allocated at at (≥ 0). When id is already live it
// changes nothing and returns where id was allocated, or where its free
// was requested when pending, and dup true.
func (l *liveIDs) add(id, at int64) (prev int64, pending, dup bool) {
	if v, ok := l.m[id]; ok {
		if v < 0 {
			return ^v, true, true
		}
		return v, false, true
	}
	l.m[id] = at
	l.peak = max(l.peak, len(l.m))
	return 0, false, false
}

// request records that the free of live id was requested at at (≥ 0): id
// stays live, pending, until remove. It reports live false when id is not
// live, and pending true (with where) when its free was already requested;
// it changes nothing then.
func (l *liveIDs) request(id, at int64) (prev int64, live, pending bool) {
	v, ok := l.m[id]
	switch {
	case !ok:
		return 0, false, false
	case v < 0:
		return ^v, true, true
	}
	l.m[id] = ^at
	return 0, true, false
}

// remove frees id, pending or not; it reports false when id was not live.
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

// len is the number of live ids, pending ones included.
func (l *liveIDs) len() int { return len(l.m) }
