package cudadriver

import (
	"errors"
	"strings"
	"testing"
)

// stitchDevice is what the stitching tests need of a backend.
type stitchDevice interface {
	Device
	Stitcher
	PatternMemory
}

// testStitch maps pages 1 and 3 of an expandable range into a new range,
// and checks what a stitched range must do on any backend: the alias reads
// and writes the sources' memory, it costs no capacity, sources unmapped
// under it keep their memory until it goes, and bad calls are refused.
func testStitch(t *testing.T, d stitchDevice, used func() int64) {
	t.Helper()
	r, err := d.Reserve(8 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Map(r, 8*MiB); err != nil {
		t.Fatal(err)
	}
	before := used()
	al, err := d.Reserve(4 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	spans := []Span{{r + 2*MiB, 2 * MiB}, {r + 6*MiB, 2 * MiB}}
	if err := d.MapAlias(al, spans); err != nil {
		t.Fatal(err)
	}
	if used() != before {
		t.Errorf("a stitch charged %d bytes", used()-before)
	}
	for i, sp := range spans {
		p1, ok1 := d.PhysicalPage(sp.Addr + 4096)
		p2, ok2 := d.PhysicalPage(al + uint64(i)*2*MiB)
		if !ok1 || !ok2 || p1 != p2 {
			t.Errorf("span %d: physical pages %#x %v and %#x %v, want the same", i, p1, ok1, p2, ok2)
		}
	}
	if p1, _ := d.PhysicalPage(r); p1 == func() uint64 { p, _ := d.PhysicalPage(al); return p }() {
		t.Error("page 0 of the source and page 0 of the alias share memory")
	}
	// A write through the alias is seen through the source, and back.
	if err := d.FillD32(al+2*MiB-4096, 8192, 0xabcd1234); err != nil {
		t.Fatal(err)
	}
	for _, at := range []uint64{r + 4*MiB - 4096, r + 6*MiB} {
		if bad, got, found, err := d.CheckD32(at, 4096, 0xabcd1234); err != nil || found {
			t.Errorf("source at %#x: bad word %#x holds %#x (%v)", at, bad, got, err)
		}
	}
	if err := d.FillD32(r+7*MiB, 4096, 7); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := d.CheckD32(al+3*MiB, 4096, 7); err != nil || found {
		t.Errorf("alias does not see the source's write: %v %v", found, err)
	}
	// Refused: a range already mapped, spans off the granularity, spans
	// not adding up, a source that is not mapped, an alias of an alias,
	// and a plain Unmap of a stitched range.
	al2, _ := d.Reserve(2 * MiB)
	for _, bad := range []struct {
		at    uint64
		spans []Span
		want  string
	}{
		{al, []Span{{r, 2 * MiB}, {r + 2*MiB, 2 * MiB}}, "already has"},
		{al2, []Span{{r + 4096, 2 * MiB}}, "multiples of"},
		{al2, []Span{{r, 4 * MiB}}, "add up to"},
		{al2, []Span{{al, 2 * MiB}}, "not a mapped"},
		{r, []Span{{r, 8 * MiB}}, "already has"},
	} {
		if err := d.MapAlias(bad.at, bad.spans); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("MapAlias(%#x, %v): %v, want %q", bad.at, bad.spans, err, bad.want)
		}
	}
	if err := d.Unmap(al, 2*MiB); err == nil || !strings.Contains(err.Error(), "stitched range") {
		t.Errorf("Unmap of a stitched range: %v", err)
	}
	if err := d.UnmapAlias(r); err == nil {
		t.Error("UnmapAlias of a plain range accepted")
	}
	// Unmapping the sources under the alias keeps their memory (and its
	// bytes on the capacity) until the alias goes.
	if err := d.Unmap(r, 8*MiB); err != nil {
		t.Fatal(err)
	}
	if got := used() - before; got != -4*MiB {
		t.Errorf("after unmapping the sources: used changed by %d, want -4 MiB (the stitched pages live on)", got)
	}
	if _, _, found, err := d.CheckD32(al+3*MiB, 4096, 7); err != nil || found {
		t.Errorf("alias lost its memory with the source's mapping: %v %v", found, err)
	}
	if err := d.UnmapAlias(al); err != nil {
		t.Fatal(err)
	}
	if got := used() - before; got != -8*MiB {
		t.Errorf("after unmapping the alias: used changed by %d, want -8 MiB", got)
	}
	if _, ok := d.PhysicalPage(al); ok {
		t.Error("the alias range still has memory")
	}
	c := d.Counters()
	if c.AliasMaps != 1 || c.AliasUnmaps != 1 || c.AliasBytes != 4*MiB {
		t.Errorf("counters %+v", c)
	}
	if err := d.Release(r); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(al2); err != nil {
		t.Fatal(err)
	}
}

func TestSimStitch(t *testing.T) {
	s := NewSim(SimOptions{Capacity: 64 * MiB})
	testStitch(t, s, s.Used)
	if s.Used() != 0 || len(s.phys) != 0 {
		t.Errorf("left %d bytes used, %d physical pages", s.Used(), len(s.phys))
	}
	if p, ok := s.PhysicalPage(0x1234); ok {
		t.Errorf("an address outside the device has page %#x", p)
	}
	a, _ := s.Alloc(3 * MiB)
	if p, ok := s.PhysicalPage(a + 3*MiB); !ok || p != a+2*MiB {
		t.Errorf("classic segment's second granule: %#x %v", p, ok)
	}
}

func TestCUDAStitchOnFake(t *testing.T) {
	c, f := openFake(t, 1<<30, 64*MiB)
	testStitch(t, c, c.Used)
	if len(f.handles) != 0 || len(f.mapped) != 0 || c.Used() != 0 {
		t.Errorf("left %d handles, %d mappings, %d bytes used", len(f.handles), len(f.mapped), c.Used())
	}
	// cuMemMap of the sources' handles into the alias, one cuMemSetAccess;
	// cuMemUnmap without cuMemRelease, then cuMemAddressFree.
	r, _ := c.Reserve(4 * MiB)
	c.Map(r, 4*MiB)
	al, _ := c.Reserve(2 * MiB)
	f.calls = nil
	if err := c.MapAlias(al, []Span{{r + 2*MiB, 2 * MiB}}); err != nil {
		t.Fatal(err)
	}
	if err := c.UnmapAlias(al); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.calls, " "); got != "cuMemMap cuMemSetAccess cuMemUnmap cuMemAddressFree" {
		t.Errorf("calls %s", got)
	}
	// A failed cuMemMap undoes the granules mapped before it.
	al, _ = c.Reserve(4 * MiB)
	f.failNext, f.failCode, f.failSkip = "cuMemMap", 1, 1
	var ce *CUDAError
	if err := c.MapAlias(al, []Span{{r, 2 * MiB}, {r + 2*MiB, 2 * MiB}}); !errors.As(err, &ce) {
		t.Fatalf("failed map: %v", err)
	}
	if len(f.mapped) != 2 || c.Counters().FailedMaps != 1 {
		t.Errorf("after a failed stitch: %d mappings (want the source's 2), counters %+v", len(f.mapped), c.Counters())
	}
	if err := c.MapAlias(al, []Span{{r, 2 * MiB}, {r + 2*MiB, 2 * MiB}}); err != nil {
		t.Fatalf("stitch after a failed one: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(f.handles) != 0 || len(f.mapped) != 0 {
		t.Errorf("close left %d handles, %d mappings", len(f.handles), len(f.mapped))
	}
}

// TestCanaryThroughStitch: canary mode sees two live blocks on the same
// physical bytes when one is in a stitched range and the other in its
// source, though their addresses differ.
func TestCanaryThroughStitch(t *testing.T) {
	s := NewSim(SimOptions{})
	r, _ := s.Reserve(8 * MiB)
	s.Map(r, 8*MiB)
	al, _ := s.Reserve(2 * MiB)
	if err := s.MapAlias(al, []Span{{r + 4*MiB, 2 * MiB}}); err != nil {
		t.Fatal(err)
	}
	c, _ := NewCanary(s, CanaryOptions{})
	c.Alloc(1, r+4*MiB, MiB)
	c.Alloc(2, al+512*1024, MiB)
	var ce *CanaryError
	if err := c.Free(1); !errors.As(err, &ce) || ce.Bad != r+4*MiB+512*1024 || ce.Over != -1 {
		t.Fatalf("overlap through an alias: %v", err)
	}
	if err := c.Free(2); err != nil {
		t.Errorf("the newer block: %v", err)
	}
}
