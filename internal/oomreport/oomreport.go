// Package oomreport puts a host.OOMReport into words: the request, where
// the reserved memory was, why none of it could serve the request, and a
// verdict (fragmentation, or a device too small for the live data).
package oomreport

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/sdk/abi"
)

// Write explains r, the first of ooms OOMs, in words: the request, where
// the reserved memory was, why the cached part could not serve it, the
// private pools' share of it (when the run used private pools: CUDA
// graphs', torch.cuda.MemPool's), and a verdict.
func Write(w io.Writer, r host.OOMReport, ooms int64) {
	f := units.Format
	capacity := "unlimited"
	if r.Capacity > 0 {
		capacity = f(r.Capacity)
	}
	fmt.Fprintf(w, "\nfirst OOM, at event %d (alloc id %d, stream %d; %d OOMs in all)\n", r.Event, r.ID, r.Stream, ooms)
	fmt.Fprintf(w, "  requested   %s, rounded to %s, %s\n", f(r.Requested), f(r.Rounded), placeName(r.Pool, r.PrivatePool))
	fmt.Fprintf(w, "  device      capacity %s, %s free\n", capacity, f(r.DeviceFree))
	if r.ReserveLimit > 0 {
		refused := ""
		if r.LimitRefused {
			refused = fmt.Sprintf("; it refused growing by %s", f(r.Grow))
		}
		fmt.Fprintf(w, "  limit       the policy reserves at most %s (PyTorch: per_process_memory_fraction)%s\n", f(r.ReserveLimit), refused)
	}
	pending := ""
	if r.PendingFree > 0 {
		pending = fmt.Sprintf(" + pending %s (freed, waiting for work on other streams: record_stream)", f(r.PendingFree))
	}
	fmt.Fprintf(w, "  reserved    %s = allocated %s + cached %s (reserved but unallocated, in %d free blocks, the largest %s)%s\n",
		f(r.Reserved), f(r.Allocated), f(r.Cached), r.FreeBlocks, f(r.LargestFree), pending)
	if r.Cached > 0 {
		fmt.Fprintf(w, "  the cached %s could not serve it because it was\n", f(r.Cached))
		for _, c := range cachedReasons(r) {
			fmt.Fprintf(w, "    %-13s %10s  %s\n", c.name, f(c.bytes), c.what)
		}
		if r.HeldByPools > 0 {
			fmt.Fprintf(w, "  of it, %s sat in whole free segments or pages, which a release gives back to the device, %s beside live blocks, which only their frees give back, and %s in private pools still in use, which no release touches before their release_pool\n",
				f(r.Releasable), f(r.Stranded), f(r.HeldByPools))
		} else {
			fmt.Fprintf(w, "  of it, %s sat in whole free segments or pages, which a release gives back to the device, and %s beside live blocks, which only their frees give back\n",
				f(r.Releasable), f(r.Stranded))
		}
		if len(r.Segments) > 0 {
			fmt.Fprintf(w, "  segments holding the most cached bytes (%d of %d segments):\n", len(r.Segments), r.TotalSegments)
			for _, s := range r.Segments {
				kind := "classic"
				if s.Expandable {
					kind = "expandable"
				}
				fmt.Fprintf(w, "    %#x  %-10s %10s mapped, %s, stream %d: live %d (%s), cached %s, largest free %s\n",
					s.Addr, kind, f(s.Mapped), placeName(s.Pool, s.PrivatePool), s.Stream, s.LiveBlocks, f(s.Allocated), f(s.Cached), f(s.LargestFree))
			}
		}
	}
	writePrivatePools(w, r)
	fmt.Fprintf(w, "  verdict     %s\n", Verdict(r))
}

type cachedReason struct {
	name  string
	bytes int64
	what  string // what the bytes were, in the table
	were  string // the same, short, in the verdict
}

// cachedReasons lists the cached bytes by why they could not serve the
// request, largest first among those that hold any.
func cachedReasons(r host.OOMReport) []cachedReason {
	all := []cachedReason{
		{"too small", r.CachedTooSmall, fmt.Sprintf("in the request's pool and stream, in blocks smaller than %s", units.Format(r.Rounded)), "in blocks too small"},
		{"not picked", r.CachedNotPicked, "in blocks large enough that the policy did not take (PyTorch: the max_split_size_mb rule)", "in blocks the policy would not take"},
		{"other pool", r.CachedOtherPool, "in another pool (PyTorch: small requests and large ones never share segments)", "in another pool"},
		{"other stream", r.CachedOtherStream, "cached for another stream", "cached for another stream"},
		privateReason(r),
	}
	var out []cachedReason
	for _, c := range all {
		if c.bytes > 0 {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b cachedReason) int { return cmp.Compare(b.bytes, a.bytes) })
	return out
}

// Verdict says in one sentence whether an OOM is fragmentation (the bytes
// were there, not in one usable place), a device too small for the live
// data, or a growth larger than the device's free memory.
func Verdict(r host.OOMReport) string {
	f := units.Format
	free := freeText(r)
	if !enoughBytes(r) {
		need := "a bigger device"
		if limited(r) {
			need = "a higher reserve limit or a bigger device"
		}
		return fmt.Sprintf("not fragmentation: the cached %s and %s together are less than the %s asked; the live blocks (%s) need %s",
			f(r.Cached), free, f(r.Rounded), f(r.Allocated), need)
	}
	if !Fragmented(r) {
		if r.Grow == 0 {
			return fmt.Sprintf("no room to map: %s would hold the %s asked, but the policy's expandable segment had no unmapped range left to map it in",
				free, f(r.Rounded))
		}
		return fmt.Sprintf("growth too large: %s would hold the %s asked, but the policy asked for %s at once (its segment or page size)",
			free, f(r.Rounded), f(r.Grow))
	}
	v := fmt.Sprintf("fragmentation: the cached %s and %s add up to the %s asked, but no free range could hold it",
		f(r.Cached), free, f(r.Rounded))
	if rs := cachedReasons(r); len(rs) > 0 {
		v += fmt.Sprintf("; most of the cached bytes were %s", rs[0].were)
	}
	if r.HeldByPools > 0 {
		v += fmt.Sprintf("; %s were held by private pools still in use, which no release returns", f(r.HeldByPools))
	}
	switch {
	case r.Releasable > 0 && r.PrivatePool != 0:
		v += fmt.Sprintf("; %s were releasable, but a request to a private pool gets no release of the cached segments (PyTorch skips it while a graph capture or MemPool context is active)", f(r.Releasable))
	case r.Releasable > 0:
		v += fmt.Sprintf("; the policy kept %s it could have released", f(r.Releasable))
	}
	return v
}

// Summary is one line for tables: the request, the cached and free bytes,
// and the kind of OOM.
func Summary(r host.OOMReport) string {
	f := units.Format
	kind := "not fragmentation (the live blocks need a bigger device)"
	switch {
	case Fragmented(r):
		kind = "fragmentation"
		if rs := cachedReasons(r); len(rs) > 0 {
			kind += ", most of the cached bytes " + rs[0].were
		}
	case enoughBytes(r):
		kind = "growth too large (the policy asked for more than the free bytes at once)"
	case limited(r):
		kind = "not fragmentation (the live blocks need a higher reserve limit)"
	}
	free := f(r.DeviceFree) + " free on the device"
	if limited(r) {
		free = fmt.Sprintf("%s left under the reserve limit of %s", f(headroom(r)), f(r.ReserveLimit))
	}
	return fmt.Sprintf("event %d, %s asked: %s cached (largest free block %s), %s: %s",
		r.Event, f(r.Rounded), f(r.Cached), f(r.LargestFree), free, kind)
}

// limited reports whether the policy's reserve limit, not the device,
// bounds what could still be reserved.
func limited(r host.OOMReport) bool { return r.ReserveLimit > 0 && headroom(r) < r.DeviceFree }

// headroom is what could still be reserved: the device's free bytes, or
// less under the policy's reserve limit.
func headroom(r host.OOMReport) int64 {
	if r.ReserveLimit > 0 {
		return min(r.DeviceFree, max(r.ReserveLimit-r.Reserved, 0))
	}
	return r.DeviceFree
}

// freeText names the headroom: "the device's free 10.0 MiB", or the bytes
// left under the reserve limit.
func freeText(r host.OOMReport) string {
	if limited(r) {
		return fmt.Sprintf("the %s left under the policy's reserve limit of %s (PyTorch: per_process_memory_fraction)",
			units.Format(headroom(r)), units.Format(r.ReserveLimit))
	}
	return "the device's free " + units.Format(r.DeviceFree)
}

// enoughBytes reports whether the cached bytes and the headroom together
// would hold the request.
func enoughBytes(r host.OOMReport) bool { return r.Cached+headroom(r) >= r.Rounded }

// Fragmented reports whether an OOM is fragmentation: enough bytes, but
// the headroom alone was too small for the request, and no free block
// could serve it.
func Fragmented(r host.OOMReport) bool { return enoughBytes(r) && headroom(r) < r.Rounded }

// privateReason is the cached bytes in another memory pool than the
// request's: private pools for a request to the default pool; the default
// pool or other private pools for a request to a private pool.
func privateReason(r host.OOMReport) cachedReason {
	if r.PrivatePool == 0 {
		return cachedReason{"private pool", r.CachedOtherPrivatePool,
			"in private pools (CUDA graphs', torch.cuda.MemPool's), which serve only their own allocations",
			"in private pools, which serve only their own allocations"}
	}
	return cachedReason{"outside pool", r.CachedOtherPrivatePool,
		fmt.Sprintf("outside private pool %d, which the request was made to (in the default pool or another private pool)", r.PrivatePool),
		fmt.Sprintf("outside private pool %d, which the request was made to", r.PrivatePool)}
}

// writePrivatePools lists the private pools that held memory: each one's
// reserved and cached bytes, whether a release could return them, and
// which one the request was made to.
func writePrivatePools(w io.Writer, r host.OOMReport) {
	if len(r.PrivatePools) == 0 {
		return
	}
	f := units.Format
	var reserved, cached int64
	for _, p := range r.PrivatePools {
		reserved += p.Reserved
		cached += p.Cached
	}
	fmt.Fprintf(w, "  private pools (%d) reserved %s, of which %s cached:\n", len(r.PrivatePools), f(reserved), f(cached))
	for _, p := range r.PrivatePools {
		state := "in use, its cached bytes held: no release returns them"
		if p.Released {
			state = "released, its cached bytes releasable"
		}
		mark := ""
		if p.ID == r.PrivatePool {
			mark = " (the request's)"
		}
		fmt.Fprintf(w, "    pool %-3d %10s reserved, %10s cached, %10s live; %s%s\n",
			p.ID, f(p.Reserved), f(p.Cached), f(p.Reserved-p.Cached), state, mark)
	}
}

// placeName names a pool of the policy's and the memory pool it is in:
// "large pool", or "large pool of private pool 2".
func placeName(pool int32, private int64) string {
	if private == 0 {
		return poolName(pool)
	}
	return fmt.Sprintf("%s of private pool %d", poolName(pool), private)
}

func poolName(p int32) string {
	switch p {
	case abi.PoolSmall:
		return "small pool"
	case abi.PoolLarge:
		return "large pool"
	}
	return fmt.Sprintf("pool %d", p)
}
