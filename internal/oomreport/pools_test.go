package oomreport

import (
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
)

const mib = 1 << 20

// replayReport runs steps on the host defaults on a device of capacity
// bytes and returns the first OOM's report and the OOM count. Steps, ';'
// separated: "a ID MiB [STREAM [POOL]]" allocates, "f ID" frees, "r ID"
// frees waiting for other streams (record_stream), "rp POOL" releases a
// private pool.
func replayReport(t *testing.T, capacity int64, steps string) (host.OOMReport, int64) {
	t.Helper()
	a := host.New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), host.NoHooks{}, host.Options{ExplainOOMs: 1})
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, step := range strings.Split(steps, ";") {
		f := strings.Fields(step)
		a.SetEvent(int64(i))
		var err error
		switch f[0] {
		case "a":
			var stream, pool int64
			if len(f) > 3 {
				stream = num(f[3])
			}
			if len(f) > 4 {
				pool = num(f[4])
			}
			err = a.AllocIn(num(f[1]), num(f[2])*mib, stream, pool, 0)
		case "f":
			err = a.Free(num(f[1]))
		case "r":
			err = a.FreeRequested(num(f[1]))
		case "rp":
			err = a.ReleasePool(num(f[1]))
		default:
			t.Fatalf("bad step %q", step)
		}
		if err != nil {
			t.Fatalf("step %d %q: %v", i, step, err)
		}
	}
	rs := a.OOMReports()
	if len(rs) == 0 {
		t.Fatal("no OOM")
	}
	return rs[0], a.Stats().OOMs
}

// TestWritePrivatePools: golden texts of OOMs where private pools hold the
// cache, from the host's own reports.
func TestWritePrivatePools(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		capacity    int64
		want        string
	}{
		{
			// A CUDA graph's capture freed a 24 MiB and an 8 MiB block
			// into its pool (in use): 44 MiB of segments (the 8 MiB block
			// got a 20 MiB one) that a 24 MiB request to the default pool
			// cannot use and no release returns.
			name:     "graph pool holds the cache",
			capacity: 64 * mib,
			steps:    "a 0 24 0 1; a 1 8 0 1; f 1; f 0; a 2 16; a 3 24",
			want: `
first OOM, at event 5 (alloc id 3, stream 0; 1 OOMs in all)
  requested   24.0 MiB, rounded to 24.0 MiB, large pool
  device      capacity 64.0 MiB, 4.0 MiB free
  reserved    60.0 MiB = allocated 16.0 MiB + cached 44.0 MiB (reserved but unallocated, in 2 free blocks, the largest 24.0 MiB)
  the cached 44.0 MiB could not serve it because it was
    private pool    44.0 MiB  in private pools (CUDA graphs', torch.cuda.MemPool's), which serve only their own allocations
  of it, 0 B sat in whole free segments or pages, which a release gives back to the device, 0 B beside live blocks, which only their frees give back, and 44.0 MiB in private pools still in use, which no release touches before their release_pool
  segments holding the most cached bytes (2 of 3 segments):
    0x7f0000000000  classic      24.0 MiB mapped, large pool of private pool 1, stream 0: live 0 (0 B), cached 24.0 MiB, largest free 24.0 MiB
    0x7f0001800000  classic      20.0 MiB mapped, large pool of private pool 1, stream 0: live 0 (0 B), cached 20.0 MiB, largest free 20.0 MiB
  private pools (1) reserved 44.0 MiB, of which 44.0 MiB cached:
    pool 1     44.0 MiB reserved,   44.0 MiB cached,        0 B live; in use, its cached bytes held: no release returns them
  verdict     fragmentation: the cached 44.0 MiB and the device's free 4.0 MiB add up to the 24.0 MiB asked, but no free range could hold it; most of the cached bytes were in private pools, which serve only their own allocations; 44.0 MiB were held by private pools still in use, which no release returns
`,
		},
		{
			// A request to private pool 2: the released pool 1's cache is
			// not released for it (PyTorch releases nothing while
			// allocating to a private pool), nor is the default pool's;
			// a record_stream free still waits.
			name:     "request to a private pool, a released pool, a pending free",
			capacity: 48 * mib,
			steps:    "a 0 16 0 1; f 0; rp 1; a 1 8 7; a 4 2 7; r 1; a 2 30 0 2",
			want: `
first OOM, at event 6 (alloc id 2, stream 0; 1 OOMs in all)
  requested   30.0 MiB, rounded to 30.0 MiB, large pool of private pool 2
  device      capacity 48.0 MiB, 12.0 MiB free
  reserved    36.0 MiB = allocated 2.0 MiB + cached 26.0 MiB (reserved but unallocated, in 2 free blocks, the largest 16.0 MiB) + pending 8.0 MiB (freed, waiting for work on other streams: record_stream)
  the cached 26.0 MiB could not serve it because it was
    outside pool    26.0 MiB  outside private pool 2, which the request was made to (in the default pool or another private pool)
  of it, 16.0 MiB sat in whole free segments or pages, which a release gives back to the device, and 10.0 MiB beside live blocks, which only their frees give back
  segments holding the most cached bytes (2 of 2 segments):
    0x7f0000000000  classic      16.0 MiB mapped, large pool of private pool 1, stream 0: live 0 (0 B), cached 16.0 MiB, largest free 16.0 MiB
    0x7f0001000000  classic      20.0 MiB mapped, large pool, stream 7: live 2 (10.0 MiB), cached 10.0 MiB, largest free 10.0 MiB
  private pools (1) reserved 16.0 MiB, of which 16.0 MiB cached:
    pool 1     16.0 MiB reserved,   16.0 MiB cached,        0 B live; released, its cached bytes releasable
  verdict     fragmentation: the cached 26.0 MiB and the device's free 12.0 MiB add up to the 30.0 MiB asked, but no free range could hold it; most of the cached bytes were outside private pool 2, which the request was made to; 16.0 MiB were releasable, but a request to a private pool gets no release of the cached segments (PyTorch skips it while a graph capture or MemPool context is active)
`,
		},
		{
			// No private pool, no pending free: the text of earlier
			// versions, line for line.
			name:     "default pool only",
			capacity: 40 * mib,
			steps:    "a 0 8; a 1 8; a 2 8; f 0; a 3 14",
			want: `
first OOM, at event 4 (alloc id 3, stream 0; 1 OOMs in all)
  requested   14.0 MiB, rounded to 14.0 MiB, large pool
  device      capacity 40.0 MiB, 0 B free
  reserved    40.0 MiB = allocated 16.0 MiB + cached 24.0 MiB (reserved but unallocated, in 3 free blocks, the largest 12.0 MiB)
  the cached 24.0 MiB could not serve it because it was
    too small       24.0 MiB  in the request's pool and stream, in blocks smaller than 14.0 MiB
  of it, 0 B sat in whole free segments or pages, which a release gives back to the device, and 24.0 MiB beside live blocks, which only their frees give back
  segments holding the most cached bytes (2 of 2 segments):
    0x7f0000000000  classic      20.0 MiB mapped, large pool, stream 0: live 1 (8.0 MiB), cached 12.0 MiB, largest free 8.0 MiB
    0x7f0001400000  classic      20.0 MiB mapped, large pool, stream 0: live 1 (8.0 MiB), cached 12.0 MiB, largest free 12.0 MiB
  verdict     fragmentation: the cached 24.0 MiB and the device's free 0 B add up to the 14.0 MiB asked, but no free range could hold it; most of the cached bytes were in blocks too small
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ooms := replayReport(t, tc.capacity, tc.steps)
			var b strings.Builder
			Write(&b, r, ooms)
			if got := b.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestWritePrivatePoolsTable: the per-pool lines of a hand-made report,
// several pools, the request's marked; and the one-line summary.
func TestWritePrivatePoolsTable(t *testing.T) {
	r := host.OOMReport{Event: 9, ID: 4, Requested: 10 * mib, Rounded: 10 * mib, Pool: 1, PrivatePool: 2,
		Capacity: 100 * mib, DeviceFree: 4 * mib, Reserved: 96 * mib, Allocated: 60 * mib, Cached: 30 * mib, PendingFree: 6 * mib,
		FreeBlocks: 5, LargestFree: 8 * mib, CachedOtherPrivatePool: 22 * mib, CachedTooSmall: 8 * mib,
		Stranded: 8 * mib, HeldByPools: 22 * mib,
		PrivatePools: []host.OOMPrivatePool{
			{ID: 1, Reserved: 40 * mib, Cached: 22 * mib},
			{ID: 2, Reserved: 20 * mib, Cached: 8 * mib},
			{ID: 5, Released: true, Reserved: 0},
		},
		TotalSegments: 7}
	var b strings.Builder
	Write(&b, r, 3)
	want := `
first OOM, at event 9 (alloc id 4, stream 0; 3 OOMs in all)
  requested   10.0 MiB, rounded to 10.0 MiB, large pool of private pool 2
  device      capacity 100.0 MiB, 4.0 MiB free
  reserved    96.0 MiB = allocated 60.0 MiB + cached 30.0 MiB (reserved but unallocated, in 5 free blocks, the largest 8.0 MiB) + pending 6.0 MiB (freed, waiting for work on other streams: record_stream)
  the cached 30.0 MiB could not serve it because it was
    outside pool    22.0 MiB  outside private pool 2, which the request was made to (in the default pool or another private pool)
    too small        8.0 MiB  in the request's pool and stream, in blocks smaller than 10.0 MiB
  of it, 0 B sat in whole free segments or pages, which a release gives back to the device, 8.0 MiB beside live blocks, which only their frees give back, and 22.0 MiB in private pools still in use, which no release touches before their release_pool
  private pools (3) reserved 60.0 MiB, of which 30.0 MiB cached:
    pool 1     40.0 MiB reserved,   22.0 MiB cached,   18.0 MiB live; in use, its cached bytes held: no release returns them
    pool 2     20.0 MiB reserved,    8.0 MiB cached,   12.0 MiB live; in use, its cached bytes held: no release returns them (the request's)
    pool 5          0 B reserved,        0 B cached,        0 B live; released, its cached bytes releasable
  verdict     fragmentation: the cached 30.0 MiB and the device's free 4.0 MiB add up to the 10.0 MiB asked, but no free range could hold it; most of the cached bytes were outside private pool 2, which the request was made to; 22.0 MiB were held by private pools still in use, which no release returns
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got, want := Summary(r), "event 9, 10.0 MiB asked: 30.0 MiB cached (largest free block 8.0 MiB), 4.0 MiB free on the device: fragmentation, most of the cached bytes outside private pool 2, which the request was made to"; got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
}
