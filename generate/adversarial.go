package generate

import (
	"math/rand"

	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/trace"
)

func init() {
	register(&Generator{
		Name: "adversarial",
		Doc: "A Robson-style pattern against best fit (J. M. Robson, \"Worst case fragmentation of " +
			"first fit and best fit storage allocation strategies\", 1977), aimed at the PyTorch CUDA " +
			"caching allocator, whose pools pick the best-fitting cached block and split it. Phase k " +
			"requests blocks of size s = min_size·2^k until the live bytes would pass live_bytes, then " +
			"frees every other block of that phase (the odd or the even ones, chosen by the seed, in an " +
			"order shuffled by the seed). The surviving blocks pin the holes: every hole is exactly s " +
			"bytes between two live blocks, so it can neither merge with a neighbour nor hold any later " +
			"request, which are all at least 2s. Each phase therefore takes new memory from the device " +
			"while half of the previous memory sits idle, and phases continue while s ≤ max_size and at " +
			"least two blocks fit the budget. The live bytes never pass live_bytes, yet best fit reserves " +
			"close to twice that. Everything still live is freed at the end. Blocks are tagged activation.",
		Params: []Param{
			{Name: "min_size", Default: "512KiB", Doc: "size of the first phase's blocks, 1 B .. max_size (above 1 MiB PyTorch serves every phase from its large pool)"},
			{Name: "max_size", Default: "64MiB", Doc: "largest block size, min_size .. 1 TiB; sizes double from min_size up to it"},
			{Name: "live_bytes", Default: "1GiB", Doc: "budget of live memory, 4·min_size .. 1 PiB, at most 10,000,000 blocks of min_size"},
		},
		gen: genAdversarial,
	})
}

func genAdversarial(p *params, r *rand.Rand) ([]trace.Event, *trace.Tags, error) {
	minSize, err := p.size("min_size", 1, 1<<40)
	if err != nil {
		return nil, nil, err
	}
	maxSize, err := p.size("max_size", minSize, 1<<40)
	if err != nil {
		return nil, nil, err
	}
	live, err := p.size("live_bytes", 4*minSize, 1<<50)
	if err != nil {
		return nil, nil, err
	}
	if live/minSize > 10_000_000 {
		return nil, nil, p.errorf("live_bytes", "want at most 10,000,000 blocks of min_size (%s): at most %s",
			units.Format(minSize), units.Format(10_000_000*minSize))
	}
	b := newBuilder()
	var used int64
	var survivors []int64
	for s := minSize; s <= maxSize; s *= 2 {
		n := (live - used) / s
		if n < 2 {
			break
		}
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = b.alloc(s, "activation")
		}
		used += n * s
		parity := r.Intn(2)
		var freed []int64
		for i, id := range ids {
			if i%2 == parity {
				freed = append(freed, id)
			} else {
				survivors = append(survivors, id)
			}
		}
		r.Shuffle(len(freed), func(i, j int) { freed[i], freed[j] = freed[j], freed[i] })
		for _, id := range freed {
			b.free(id)
		}
		used -= int64(len(freed)) * s
		if s > maxSize/2 {
			break
		}
	}
	for _, id := range survivors {
		b.free(id)
	}
	return b.events, b.tags, nil
}
