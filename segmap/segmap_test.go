package segmap

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
)

var update = flag.Bool("update", false, "rewrite the golden SVGs under testdata/")

const mib = 1 << 20

// fixture is a map with every kind of segment and run: classic ones
// (live blocks of two tags, cached holes), an expandable one with an
// unmapped hole and tail and pages lent to a stitched range, the
// stitched range, a private pool's segment with a pending free, tiny
// segments for the group bar, and a failed request.
func fixture() *Map {
	return &Map{
		Event: 41, At: "first-oom", Policy: "pytorch", Capacity: 1024 * mib, DeviceFree: 24 * mib,
		Reserved: 1000 * mib, Allocated: 700 * mib,
		Request: &Request{ID: 7, Requested: 100*mib - 5, Rounded: 100 * mib, Pool: 1, LargestFree: 60 * mib},
		Tags:    map[int32]string{1: "weight", 2: "activation"},
		Segments: []Segment{
			{Addr: 0x1000_0000, Size: 200 * mib, Mapped: 200 * mib, Pool: 1, Runs: []Run{
				{Kind: Live, Size: 80 * mib, Tag: 1, Blocks: 1}, {Kind: Free, Size: 60 * mib, Blocks: 1}, {Kind: Live, Size: 60 * mib, Tag: 2, Blocks: 1}}},
			{Addr: 0x2000_0000, Size: 100 * mib, Mapped: 100 * mib, Pool: 1, Runs: []Run{
				{Kind: Free, Size: 40 * mib, Blocks: 1}, {Kind: Live, Size: 60 * mib, Tag: 1, Blocks: 1}}},
			{Addr: 0x3000_0000, Size: 800 * mib, Mapped: 300 * mib, Pool: 1, Expandable: true, Runs: []Run{
				{Kind: Live, Size: 120 * mib, Tag: 2, Blocks: 1}, {Kind: Unmapped, Size: 100 * mib, Blocks: 1},
				{Kind: Lent, Size: 40 * mib, Blocks: 1}, {Kind: Free, Size: 20 * mib, Blocks: 1}, {Kind: Live, Size: 120 * mib, Tag: 1, Blocks: 1},
				{Kind: Unmapped, Size: 400 * mib, Blocks: 1}}},
			{Addr: 0x4000_0000, Size: 40 * mib, Mapped: 40 * mib, Pool: 1, Stitched: true, Runs: []Run{{Kind: Live, Size: 40 * mib, Tag: 2, Blocks: 1}}},
			{Addr: 0x5000_0000, Size: 64 * mib, Mapped: 64 * mib, Pool: 1, PrivatePool: 3, Stream: 7, Runs: []Run{
				{Kind: Pending, Size: 32 * mib, Tag: 1, Blocks: 1}, {Kind: Free, Size: 32 * mib, Blocks: 1}}},
			{Addr: 0x6000_0000, Size: 128 << 10, Mapped: 128 << 10, Pool: 0, Runs: []Run{{Kind: Live, Size: 64 << 10, Blocks: 1}, {Kind: Free, Size: 64 << 10, Blocks: 1}}},
			{Addr: 0x6020_0000, Size: 128 << 10, Mapped: 128 << 10, Pool: 0, Runs: []Run{{Kind: Free, Size: 128 << 10, Blocks: 1}}},
		},
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		m    func() *Map
		o    Options
	}{
		{"fixture", fixture, Options{}},
		{"fixture-narrow", fixture, Options{Width: 680}},
		{"no-request", func() *Map { m := fixture(); m.Request, m.At = nil, "peak"; return m }, Options{}},
		{"empty", func() *Map { return &Map{Event: 0} }, Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SVG(tc.m(), tc.o)
			if again := SVG(tc.m(), tc.o); !bytes.Equal(got, again) {
				t.Fatal("two pictures of the same map differ")
			}
			path := filepath.Join("testdata", tc.name+".svg")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./segmap -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the picture drawn (go test ./segmap -update rewrites it after a deliberate change)", path)
			}
		})
	}
}

var (
	segRe  = regexp.MustCompile(`<g class="seg" data-addr="(0x[0-9a-f]+)" data-bytes="(\d+)" data-drawn="(\d+)" data-rows="(\d+)">`)
	boxRe  = regexp.MustCompile(`<rect class="box[^"]*" x="[-0-9.]+" y="[0-9.]+" width="([0-9.]+)"`)
	rectRe = regexp.MustCompile(`<rect `)
)

// segWidths returns each drawn segment's bytes drawn and its width in
// pixels (its box pieces summed), by address.
func segWidths(t *testing.T, svg string) map[string][2]float64 {
	t.Helper()
	out := map[string][2]float64{}
	for _, part := range strings.Split(svg, `<g class="seg"`)[1:] {
		g := `<g class="seg"` + part
		m := segRe.FindStringSubmatch(g)
		if m == nil {
			t.Fatalf("segment group without its data: %.100s", g)
		}
		end := strings.Index(g, "</g>")
		var w float64
		for _, b := range boxRe.FindAllStringSubmatch(g[:end], -1) {
			v, _ := strconv.ParseFloat(b[1], 64)
			w += v
		}
		drawn, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]] = [2]float64{drawn, w}
	}
	return out
}

func TestWidthsProportional(t *testing.T) {
	for _, width := range []int{1400, 680} {
		svg := string(SVG(fixture(), Options{Width: width}))
		ws := segWidths(t, svg)
		if len(ws) != 5 {
			t.Fatalf("width %d: %d segments drawn one by one, want 5 (the two 2 MiB ones grouped)", width, len(ws))
		}
		var bpp float64
		for addr, dw := range ws {
			if bpp == 0 {
				bpp = dw[0] / dw[1]
			}
			if got := dw[0] / dw[1]; got < bpp*0.99 || got > bpp*1.01 {
				t.Errorf("width %d: segment %s: %.0f bytes per pixel, others %.0f: not to scale", width, addr, got, bpp)
			}
		}
		// The expandable segment draws of its 400 MiB unmapped tail only a
		// quarter of the rest (400 MiB): 500 MiB.
		if d := ws["0x30000000"][0]; d != 500*mib {
			t.Errorf("expandable segment drawn over %.0f bytes, want %d", d, 500*mib)
		}
		if !strings.Contains(svg, `data-segments="2"`) {
			t.Errorf("width %d: no group of the 2 tiny segments", width)
		}
		for _, want := range []string{"failed request 100.0 MiB", "largest free block 60.0 MiB", "live: weight", "live: activation", "cached free", "private pool", "stitched range", "free 60.0 MiB"} {
			if !strings.Contains(svg, want) {
				t.Errorf("width %d: picture lacks %q", width, want)
			}
		}
	}
}

// manyBlocks is a map of segs segments holding blocks blocks in all,
// alternating live and free, of varied sizes.
func manyBlocks(segs, blocks int) *Map {
	m := &Map{Event: 1}
	per := blocks / segs
	for i := range segs {
		s := Segment{Addr: uint64(i+1) << 32, Pool: 1}
		for j := range per {
			k := Free
			if j%2 == 0 {
				k = Live
			}
			n := int64(512 * (1 + (i*7+j*13)%64))
			s.Runs = append(s.Runs, Run{Kind: k, Size: n, Tag: int32(j % 3), Blocks: 1})
			s.Size += n
		}
		s.Mapped = s.Size
		m.Segments = append(m.Segments, s)
	}
	return m
}

func TestBoundedSize(t *testing.T) {
	tests := []struct {
		name           string
		segs, blocks   int
		maxBytes, rect int
	}{
		{"one segment, 10k blocks", 1, 10000, 200 << 10, 2600},
		{"100 segments, 10k blocks", 100, 10000, 250 << 10, 2800},
		{"5000 segments, 10k blocks", 5000, 10000, 250 << 10, 4000},
		{"100k blocks", 50, 100000, 250 << 10, 2800},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svg := SVG(manyBlocks(tc.segs, tc.blocks), Options{})
			n := len(rectRe.FindAll(svg, -1))
			t.Logf("%d bytes, %d rects", len(svg), n)
			if len(svg) > tc.maxBytes {
				t.Errorf("picture is %d bytes, want at most %d", len(svg), tc.maxBytes)
			}
			if n > tc.rect {
				t.Errorf("picture has %d rects, want at most %d", n, tc.rect)
			}
		})
	}
}

func TestCompactAndJSON(t *testing.T) {
	m := manyBlocks(100, 10000)
	m.Compact(40, 700)
	if len(m.Segments) != 40 || m.Others == nil || m.Others.Segments != 60 {
		t.Fatalf("compacted to %d segments and %+v others, want 40 and 60", len(m.Segments), m.Others)
	}
	runs := 0
	for _, s := range m.Segments {
		var sum int64
		for _, r := range s.Runs {
			sum += r.Size
		}
		if sum != s.Size {
			t.Fatalf("segment %#x: runs add up to %d, not %d", s.Addr, sum, s.Size)
		}
		runs += len(s.Runs)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted: %d runs, %d bytes of JSON", runs, len(b))
	if len(b) > 64<<10 {
		t.Errorf("compacted map is %d bytes of JSON, want at most 64 KiB", len(b))
	}
	var back Map
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(SVG(m, Options{}), SVG(&back, Options{})) {
		t.Error("the map read back from JSON draws differently")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ json, want string }{
		{`{"addr":1,"size":10,"runs":"L10 Q5"}`, `unknown kind 'Q'`},
		{`{"addr":1,"size":10,"runs":"L-3"}`, "bad size"},
		{`{"addr":1,"size":10,"runs":"L10x0"}`, "bad block count"},
		{`{"addr":1,"size":10,"runs":"L10:z"}`, "bad tag"},
		{`{"addr":1,"size":10,"runs":"L4 F4"}`, "runs add up to 8 bytes, not its size 10"},
	}
	for _, tc := range tests {
		var s Segment
		err := json.Unmarshal([]byte(tc.json), &s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.json, err, tc.want)
		}
	}
	rs := []Run{{Kind: Live, Size: 10, Tag: 3, Blocks: 1}, {Kind: Free, Size: 5, Blocks: 4}, {Kind: Unmapped, Size: 7, Blocks: 1}}
	if got := EncodeRuns(rs); got != "L10:3 F5x4 U7" {
		t.Errorf("EncodeRuns = %q", got)
	}
}

func TestMergeTiny(t *testing.T) {
	tests := []struct {
		name string
		in   string
		unit int64
		want string
	}{
		{"wide runs stay", "L100 F100 L100", 10, "L100 F100 L100"},
		{"same kind merges", "L100 L50 F100", 10, "L150x2 F100"},
		{"tiny ones chunk by most bytes", "L100 F3 L2 F4 L100", 8, "L100 F9x3 L100"},
		{"a tiny tail joins the run before", "L100 F3", 8, "L103x2"},
		{"tags kept apart", "L100:1 L100:2", 10, "L100:1 L100:2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := DecodeRuns(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := EncodeRuns(mergeTiny(rs, tc.unit)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCapture takes the map of a real allocator: a classic segment with a
// live block and a cached hole, and the OOM a request too big makes.
func TestCapture(t *testing.T) {
	a := host.New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: 64 * mib}), host.NoHooks{}, host.Options{ExplainOOMs: 1})
	steps := []func() error{
		func() error { return a.Alloc(1, 10*mib, 0, 0) },
		func() error { return a.Alloc(2, 8*mib, 0, 0) },
		func() error { return a.Free(1) },
		func() error { return a.Alloc(3, 60*mib, 0, 0) },
	}
	for i, f := range steps {
		a.SetEvent(int64(i))
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	m := Capture(a, 3, nil)
	m.Request = RequestOf(a.OOMReports()[0])
	if m.Reserved != a.Stats().Reserved || len(m.Segments) == 0 {
		t.Fatalf("captured %+v", m)
	}
	var live, free int64
	for _, s := range m.Segments {
		for _, r := range s.Runs {
			switch r.Kind {
			case Live:
				live += r.Size
			case Free:
				free += r.Size
			}
		}
	}
	if live != a.Stats().Allocated || live+free != a.Stats().Reserved {
		t.Errorf("live %d + free %d, want allocated %d of reserved %d", live, free, a.Stats().Allocated, a.Stats().Reserved)
	}
	if m.Request.Rounded != 60*mib {
		t.Errorf("request %+v", m.Request)
	}
	svg := string(SVG(m, Options{}))
	if !strings.Contains(svg, "failed request 60.0 MiB") || !strings.Contains(svg, `class="free"`) {
		t.Errorf("picture lacks the request or the hole:\n%s", svg)
	}
}
