package tracestats

import "github.com/fraglab/fraglab/traceconv"

// OfSource collects the stats of an open workload: its allocations live
// before the first event, every event, and the failures it recorded (an
// RMM log's allocate failures, a snapshot's oom entries).
func OfSource(src *traceconv.Source) (*Stats, error) {
	c := NewCollector()
	for _, a := range src.InitialAllocs() {
		c.AddInitial(a.ID, a.Size)
	}
	s, err := c.read(src.Reader)
	if err != nil {
		return nil, err
	}
	for _, f := range src.Failures() {
		c.AddFailure(Failure{Event: f.Event, Line: f.Line, Size: f.Size, Stream: f.Stream})
	}
	s.Failures, s.FailureList = c.s.Failures, c.s.FailureList
	return s, nil
}
