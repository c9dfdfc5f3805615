package generate

import (
	"math/rand"

	"github.com/fraglab/fraglab/trace"
)

const mib = 1 << 20

func init() {
	register(&Generator{
		Name: "devlog",
		Doc: "The toy workloads of the PyTorch developer blog post on the CUDA caching allocator " +
			"(\"A guide to PyTorch's CUDA Caching Allocator\", dev-discuss.pytorch.org), which show how " +
			"the order of request sizes decides whether cached segments can be reused. " +
			"small-then-large allocates and frees 8×16 MiB, then 4×32 MiB (each 16 MiB block gets a " +
			"16 MiB segment of its own and blocks of different segments never merge, so no cached block " +
			"holds 32 MiB and the second phase needs new memory); " +
			"large-then-small does the reverse (4×32 MiB, then 8×16 MiB that split the cached 32 MiB " +
			"segments); expandable-pinned allocates 4×16 MiB, frees #0 and #2 and asks for 32 MiB, " +
			"the case expandable segments are meant for: 32 MiB free in total but in two non-adjacent " +
			"holes. All blocks are tagged activation. The seed is ignored. small-then-large and " +
			"large-then-small are exactly examples/traces/devlog-*.jsonl.",
		Params: []Param{{Name: "order", Default: "small-then-large",
			Doc: "which example: small-then-large, large-then-small or expandable-pinned"}},
		gen: genDevlog,
	})
}

func genDevlog(p *params, _ *rand.Rand) ([]trace.Event, *trace.Tags, error) {
	order, err := p.choice("order", "small-then-large", "large-then-small", "expandable-pinned")
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder()
	phase := func(n int, size int64) {
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = b.alloc(size, "activation")
		}
		for _, id := range ids {
			b.free(id)
		}
	}
	switch order {
	case "small-then-large":
		phase(8, 16*mib)
		phase(4, 32*mib)
	case "large-then-small":
		phase(4, 32*mib)
		phase(8, 16*mib)
	case "expandable-pinned":
		ids := make([]int64, 4)
		for i := range ids {
			ids[i] = b.alloc(16*mib, "activation")
		}
		b.free(ids[0])
		b.free(ids[2])
		big := b.alloc(32*mib, "activation")
		b.free(ids[1])
		b.free(ids[3])
		b.free(big)
	}
	return b.events, b.tags, nil
}
