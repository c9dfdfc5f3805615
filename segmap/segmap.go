// Package segmap draws the segments of a device at one moment of a replay
// as an SVG picture: every segment a bar to scale, its blocks in it (live
// ones coloured by tag or size class, cached free ones, unmapped pages of
// expandable segments, pages lent to stitched ranges), private pools and
// stitched ranges marked, and, at an OOM, the request that failed beside
// them. It is the picture of what oomreport says in words.
//
// A Map is the state to draw: Capture takes it from a host.Allocator, and
// it is small enough to store in a run record (Compact bounds it; its JSON
// form encodes each segment's blocks as one string). Write draws a Map;
// the same Map always gives the same bytes.
package segmap

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/host"
)

// Kind is what a range of a segment holds.
type Kind byte

// The kinds of a Run, by their letter in the JSON encoding.
const (
	Live     Kind = 'L' // an allocated block
	Pending  Kind = 'P' // freed by the workload, waiting for other streams (record_stream)
	Free     Kind = 'F' // cached: reserved, mapped, not allocated
	Unmapped Kind = 'U' // an expandable segment's range with no memory mapped
	Lent     Kind = 'N' // pages lent to a stitched range (ABI 1.5): they back a block there
)

// kinds lists every kind, in legend order.
var kinds = []Kind{Live, Pending, Free, Lent, Unmapped}

// Name is the kind as the legend and the SVG classes name it.
func (k Kind) Name() string {
	switch k {
	case Live:
		return "live"
	case Pending:
		return "pending"
	case Free:
		return "free"
	case Unmapped:
		return "unmapped"
	case Lent:
		return "lent"
	}
	return "mixed"
}

// Run is a range of a segment: consecutive bytes of one kind (and, for
// live bytes, one tag). Blocks is how many blocks it stands for (more
// than one once Compact merged tiny blocks; then Kind is the kind that
// holds most of its bytes).
type Run struct {
	Kind   Kind
	Size   int64
	Tag    int32 // live and pending runs: the allocation's tag
	Blocks int
}

// Segment is one segment of the device with its runs in address order;
// the runs' sizes add up to Size.
type Segment struct {
	Addr   uint64 `json:"addr"`
	Size   int64  `json:"size"`   // classic: allocation size; expandable: reserved virtual bytes
	Mapped int64  `json:"mapped"` // bytes backed by memory
	Pool   int32  `json:"pool"`
	Stream int64  `json:"stream"` // raw stream value
	// PrivatePool is the private pool holding the segment; 0: default.
	PrivatePool int64 `json:"private_pool,omitempty"`
	Expandable  bool  `json:"expandable,omitempty"`
	// Stitched: a stitched range, whose bytes are lent by other segments'
	// blocks (counted there, not in the reserved bytes twice).
	Stitched bool `json:"stitched,omitempty"`
	// Runs tile the segment in address order; in JSON, one string (see
	// EncodeRuns).
	Runs []Run `json:"-"`
}

// segmentFields is Segment without its methods, for its JSON form.
type segmentFields Segment

// MarshalJSON writes the segment with its runs as one string.
func (s Segment) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		segmentFields
		Runs string `json:"runs"`
	}{segmentFields(s), EncodeRuns(s.Runs)})
}

// UnmarshalJSON reads what MarshalJSON wrote and checks that the runs
// tile the segment.
func (s *Segment) UnmarshalJSON(b []byte) error {
	var v struct {
		segmentFields
		Runs string `json:"runs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	rs, err := DecodeRuns(v.Runs)
	if err != nil {
		return fmt.Errorf("segment %#x: %w", v.Addr, err)
	}
	var sum int64
	for _, r := range rs {
		sum += r.Size
	}
	if sum != v.Size {
		return fmt.Errorf("segment %#x: runs add up to %d bytes, not its size %d", v.Addr, sum, v.Size)
	}
	*s = Segment(v.segmentFields)
	s.Runs = rs
	return nil
}

// Request is the allocation that failed, drawn beside the segments.
type Request struct {
	ID          int64 `json:"id"`
	Requested   int64 `json:"requested"`
	Rounded     int64 `json:"rounded"`
	Pool        int32 `json:"pool"`
	Stream      int64 `json:"stream"`
	PrivatePool int64 `json:"private_pool,omitempty"`
	LargestFree int64 `json:"largest_free"` // the largest cached block anywhere
}

// Others sums the segments Compact left out.
type Others struct {
	Segments  int   `json:"segments"`
	Size      int64 `json:"size"`
	Allocated int64 `json:"allocated"`
	Cached    int64 `json:"cached"`
}

// Map is the device's segments at one moment.
type Map struct {
	// Event is the trace event after which the state was taken; At says
	// why that one: "first-oom", "peak" or "event".
	Event      int64  `json:"event"`
	At         string `json:"at,omitempty"`
	Policy     string `json:"policy,omitempty"`
	Capacity   int64  `json:"capacity"` // 0: unlimited
	DeviceFree int64  `json:"device_free"`
	Reserved   int64  `json:"reserved"`
	Allocated  int64  `json:"allocated"`
	// Request is the allocation that failed at Event; nil when the map is
	// not taken at an OOM.
	Request  *Request  `json:"request,omitempty"`
	Segments []Segment `json:"segments"`
	Others   *Others   `json:"others,omitempty"`
	// Tags names the tags of live runs, by id; omitted when untagged.
	Tags map[int32]string `json:"tags,omitempty"`
}

// Capture takes the state of a's segments now, as the map of event (the
// caller sets At, Policy and Request). names, when set, names tag ids.
func Capture(a *host.Allocator, event int64, names func(int32) (string, bool)) *Map {
	st := a.Stats()
	m := &Map{Event: event, Capacity: max(a.Device().Info().Capacity, 0), Reserved: st.Reserved, Allocated: st.Allocated}
	m.DeviceFree, _ = a.Device().MemInfo()
	for _, s := range a.Segments() {
		seg := Segment{Addr: s.Addr, Size: s.Size, Mapped: s.Mapped, Pool: s.Pool, Stream: a.StreamValue(s.Stream),
			PrivatePool: s.PrivatePool, Expandable: s.Expandable(), Stitched: s.Stitched}
		for _, b := range s.Blocks() {
			r := Run{Size: b.Size, Blocks: 1}
			switch {
			case !b.Mapped:
				r.Kind = Unmapped
			case b.Lent:
				r.Kind = Lent
			case b.Pending:
				r.Kind, r.Tag = Pending, b.Tag
			case b.Allocated:
				r.Kind, r.Tag = Live, b.Tag
			default:
				r.Kind = Free
			}
			if r.Tag != 0 && names != nil {
				if n, ok := names(r.Tag); ok {
					if m.Tags == nil {
						m.Tags = map[int32]string{}
					}
					m.Tags[r.Tag] = n
				}
			}
			seg.Runs = append(seg.Runs, r)
		}
		seg.Runs = mergeSame(seg.Runs)
		m.Segments = append(m.Segments, seg)
	}
	return m
}

// RequestOf is the failed request of an OOM report.
func RequestOf(r host.OOMReport) *Request {
	return &Request{ID: r.ID, Requested: r.Requested, Rounded: r.Rounded, Pool: r.Pool, Stream: r.Stream,
		PrivatePool: r.PrivatePool, LargestFree: r.LargestFree}
}

// mergeSame merges adjacent unmapped runs (pages unmapped one by one are
// one hole). Other runs stay one per block until Compact.
func mergeSame(rs []Run) []Run {
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.Kind == Unmapped && out[n-1].Kind == Unmapped {
			out[n-1].Size += r.Size
			out[n-1].Blocks += r.Blocks
			continue
		}
		out = append(out, r)
	}
	return out
}

// DrawnSize is how many bytes of s a picture draws: all of it, but for an
// expandable segment's unmapped tail, of which at most a quarter of the
// rest is drawn (an expandable segment reserves far more virtual bytes
// than it maps).
func (s *Segment) DrawnSize() int64 {
	n := len(s.Runs)
	if !s.Expandable || n == 0 || s.Runs[n-1].Kind != Unmapped {
		return s.Size
	}
	rest := s.Size - s.Runs[n-1].Size
	return rest + min(s.Runs[n-1].Size, max(rest/4, 1))
}

// bytesOf sums a segment's allocated (live and pending) and cached bytes.
func (s *Segment) bytesOf() (allocated, cached int64) {
	for _, r := range s.Runs {
		switch r.Kind {
		case Live, Pending:
			allocated += r.Size
		case Free:
			cached += r.Size
		}
	}
	return
}

// Compact bounds m for storage and drawing: it keeps the maxSegments
// segments drawn largest (summing the rest in m.Others; 0: keep all),
// and merges runs smaller than 1/resolution of the largest drawn segment
// into chunks of at least that size, each of the kind holding most of its
// bytes. Segments end in address order. Compact changes m.
func (m *Map) Compact(maxSegments, resolution int) {
	m.Segments = slices.Clone(m.Segments) // maps may share segments (replay's)
	if maxSegments > 0 && len(m.Segments) > maxSegments {
		bySize(m.Segments)
		o := &Others{}
		if m.Others != nil {
			o = m.Others
		}
		for _, s := range m.Segments[maxSegments:] {
			al, ca := s.bytesOf()
			o.Segments++
			o.Size += s.Size
			o.Allocated += al
			o.Cached += ca
		}
		m.Others = o
		m.Segments = m.Segments[:maxSegments]
		slices.SortStableFunc(m.Segments, func(a, b Segment) int { return cmp.Compare(a.Addr, b.Addr) })
	}
	if resolution <= 0 {
		return
	}
	var widest int64
	for i := range m.Segments {
		widest = max(widest, m.Segments[i].DrawnSize())
	}
	unit := widest / int64(resolution)
	for i := range m.Segments {
		m.Segments[i].Runs = mergeTiny(m.Segments[i].Runs, unit)
	}
}

// bySize sorts segments by drawn size, largest first, then by address.
func bySize(ss []Segment) {
	slices.SortStableFunc(ss, func(a, b Segment) int {
		if c := cmp.Compare(b.DrawnSize(), a.DrawnSize()); c != 0 {
			return c
		}
		return cmp.Compare(a.Addr, b.Addr)
	})
}

// mergeTiny merges adjacent runs of the same kind and tag, and runs
// smaller than unit bytes into chunks of at least unit bytes, each chunk
// taking the kind (and tag) that holds most of its bytes.
func mergeTiny(rs []Run, unit int64) []Run {
	var out []Run
	var chunk []Run // tiny runs waiting to reach unit bytes
	var chunkSize int64
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		out = appendRun(out, dominant(chunk))
		chunk, chunkSize = chunk[:0], 0
	}
	for _, r := range rs {
		if r.Size >= unit && chunkSize == 0 {
			out = appendRun(out, r)
			continue
		}
		chunk = append(chunk, r)
		chunkSize += r.Size
		if chunkSize >= unit {
			flush()
		}
	}
	if len(chunk) > 0 {
		if n := len(out); n > 0 && chunkSize < unit {
			// A tiny tail joins the run before it.
			all := append([]Run{out[n-1]}, chunk...)
			out = append(out[:n-1], dominant(all))
		} else {
			flush()
		}
	}
	return out
}

// appendRun appends r, merging it into the last run when of the same
// kind and tag.
func appendRun(out []Run, r Run) []Run {
	if n := len(out); n > 0 && out[n-1].Kind == r.Kind && out[n-1].Tag == r.Tag {
		out[n-1].Size += r.Size
		out[n-1].Blocks += r.Blocks
		return out
	}
	return append(out, r)
}

// dominant is one run for rs: their bytes and blocks, of the kind and tag
// holding most bytes (ties: the first).
func dominant(rs []Run) Run {
	type key struct {
		k Kind
		t int32
	}
	by := map[key]int64{}
	var order []key
	out := Run{}
	for _, r := range rs {
		k := key{r.Kind, r.Tag}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] += r.Size
		out.Size += r.Size
		out.Blocks += r.Blocks
	}
	best := order[0]
	for _, k := range order[1:] {
		if by[k] > by[best] {
			best = k
		}
	}
	out.Kind, out.Tag = best.k, best.t
	return out
}

// EncodeRuns writes runs as a compact string: space-separated tokens
// KIND SIZE [":" TAG] ["x" BLOCKS], e.g. "L1048576:3 F2048x12 U2097152",
// where KIND is the kind's letter, the tag is left out when 0 and the
// block count when 1.
func EncodeRuns(rs []Run) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(byte(r.Kind))
		b.WriteString(strconv.FormatInt(r.Size, 10))
		if r.Tag != 0 {
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(int64(r.Tag), 10))
		}
		if r.Blocks != 1 {
			b.WriteByte('x')
			b.WriteString(strconv.Itoa(r.Blocks))
		}
	}
	return b.String()
}

// DecodeRuns reads what EncodeRuns wrote.
func DecodeRuns(s string) ([]Run, error) {
	var out []Run
	for _, tok := range strings.Fields(s) {
		r := Run{Kind: Kind(tok[0]), Blocks: 1}
		if !slices.Contains(kinds, r.Kind) {
			return nil, fmt.Errorf("segment map run %q: unknown kind %q (expected one of L, P, F, U, N)", tok, tok[0])
		}
		rest := tok[1:]
		if i := strings.IndexByte(rest, 'x'); i >= 0 {
			n, err := strconv.Atoi(rest[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("segment map run %q: bad block count", tok)
			}
			r.Blocks, rest = n, rest[:i]
		}
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			t, err := strconv.ParseInt(rest[i+1:], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("segment map run %q: bad tag", tok)
			}
			r.Tag, rest = int32(t), rest[:i]
		}
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("segment map run %q: bad size", tok)
		}
		r.Size = n
		out = append(out, r)
	}
	return out, nil
}
