package generate

import (
	"math"
	"math/rand"

	"github.com/fraglab/fraglab/trace"
)

func init() {
	register(&Generator{
		Name: "random",
		Doc: "RMM's RANDOM_ALLOCATIONS_BENCH (rapidsai/rmm, benchmarks/random_allocations): " +
			"2×num_allocations steps; each step draws a size uniform in [1, max_size] bytes and, when " +
			"something is live, allocates with probability alloc_percent% provided fewer than " +
			"num_allocations were made and the live bytes plus the size stay under max_usage; " +
			"otherwise it frees a live allocation chosen uniformly at random (the first step always " +
			"allocates). Allocations still live after the steps are freed at the end, in order. " +
			"RMM runs the grid num_allocations ∈ {1000, 10000, 100000} × max_size ∈ {1, 4, 64, 256, " +
			"1024, 4096} MiB with max_usage 16000 MiB. Events are untagged.",
		Params: []Param{
			{Name: "num_allocations", Default: "1000", Doc: "allocations to make, 1 .. 10000000"},
			{Name: "max_size", Default: "1MiB", Doc: "largest request; sizes are uniform in [1, max_size], 1 B .. 1 TiB"},
			{Name: "max_usage", Default: "16000MiB", Doc: "bound on live bytes, 1 B .. 1 PiB (RMM: 16000 MiB)"},
			{Name: "alloc_percent", Default: "73", Doc: "chance in percent that a step allocates rather than frees, 0 .. 100 (RMM: 73)"},
		},
		gen: genRandom,
	})
}

func genRandom(p *params, r *rand.Rand) ([]trace.Event, *trace.Tags, error) {
	n, err := p.int("num_allocations", 1, 10_000_000)
	if err != nil {
		return nil, nil, err
	}
	maxSize, err := p.size("max_size", 1, 1<<40)
	if err != nil {
		return nil, nil, err
	}
	maxUsage, err := p.size("max_usage", 1, math.MaxInt64/4)
	if err != nil {
		return nil, nil, err
	}
	pct, err := p.int("alloc_percent", 0, 100)
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder()
	type live struct{ id, size int64 }
	var lives []live
	var count, usage int64
	for i := int64(0); i < 2*n; i++ {
		size := 1 + r.Int63n(maxSize)
		doAlloc := true
		if len(lives) > 0 {
			doAlloc = int64(r.Intn(100)) < pct && count < n && usage+size < maxUsage
		}
		if doAlloc {
			lives = append(lives, live{b.alloc(size, ""), size})
			count++
			usage += size
			continue
		}
		if len(lives) > 0 {
			j := r.Intn(len(lives))
			b.free(lives[j].id)
			usage -= lives[j].size
			lives[j] = lives[len(lives)-1]
			lives = lives[:len(lives)-1]
		}
	}
	for _, l := range lives {
		b.free(l.id)
	}
	return b.events, b.tags, nil
}
