package cudadriver

import "fmt"

// ledger is the bookkeeping Sim and CUDA share: their classic segments,
// the bytes they hold and their call counters.
type ledger struct {
	used     int64            // footprint of segments plus mapped bytes
	segments map[uint64]int64 // segment address -> size asked for
	counters Counters
}

func newLedger() ledger { return ledger{segments: map[uint64]int64{}} }

// segmentSize returns the size of the segment at addr, or an error worded
// for backend when there is none.
func (l *ledger) segmentSize(backend string, addr uint64) (int64, error) {
	size, ok := l.segments[addr]
	if !ok {
		return 0, fmt.Errorf("%s: free of %#x: not a segment", backend, addr)
	}
	return size, nil
}

// addSegment records a segment of size bytes at addr, holding foot.
func (l *ledger) addSegment(addr uint64, size, foot int64) {
	l.used += foot
	l.segments[addr] = size
	l.counters.Allocs++
	l.counters.AllocBytes += size
}

// dropSegment forgets the segment of size bytes at addr, holding foot.
func (l *ledger) dropSegment(addr uint64, size, foot int64) {
	delete(l.segments, addr)
	l.used -= foot
	l.counters.Frees++
	l.counters.FreeBytes += size
}

// addMapped records a map of size bytes.
func (l *ledger) addMapped(size int64) {
	l.used += size
	l.counters.Maps++
	l.counters.MapBytes += size
}

// countUnmap counts an unmap of size bytes; the caller takes the bytes off
// used as it unmaps them.
func (l *ledger) countUnmap(size int64) {
	l.counters.Unmaps++
	l.counters.UnmapBytes += size
}
