package generate

import (
	"math/rand"

	"github.com/fraglab/fraglab/trace"
)

func init() {
	register(&Generator{
		Name: "training",
		Doc: "Transformer training iterations with Adam and data-parallel gradient buckets. At start-up " +
			"each of the layers allocates its weights (12·hidden²·dtype_bytes: attention 4h², MLP 8h²) and " +
			"Adam's two moment buffers of the same size (optimizer, 2× the weights). Each of the steps " +
			"draws a sequence length uniform in [seq_min, seq_max] (fixed when they are equal: dynamic " +
			"shapes otherwise) and runs forward: one activation block per layer of " +
			"act_factor·batch·seq_len·hidden·dtype_bytes/2 bytes (act_factor 34 is Korthikanti et al.'s " +
			"per-layer estimate in fp16, without the attention scores). With checkpointing only every " +
			"checkpoint_every-th layer's activation is kept (layers 0, k, 2k, …); backward then " +
			"recomputes each other layer's activation (an alloc/free pair) before its gradient. Backward " +
			"walks the layers in reverse, freeing each layer's activation after its gradient; gradients " +
			"fill buckets of bucket_mb MiB (DDP), each allocated when it is full (or a layer's gradient " +
			"alone overflows it; the last, partial bucket at the end of backward) and all freed after the " +
			"optimizer step. Weights and optimizer state are freed at the very end. " +
			"Tags: weight, optimizer, activation, gradient.",
		Params: []Param{
			{Name: "steps", Default: "20", Doc: "training iterations, 1 .. 100000"},
			{Name: "layers", Default: "24", Doc: "transformer layers, 1 .. 1000"},
			{Name: "hidden", Default: "2048", Doc: "hidden size, 1 .. 131072"},
			{Name: "batch", Default: "4", Doc: "micro-batch size in sequences, 1 .. 65536"},
			{Name: "dtype_bytes", Default: "2", Doc: "bytes per element of weights, activations and gradients, 1 .. 8"},
			{Name: "seq_min", Default: "512", Doc: "shortest sequence, 1 .. 1048576"},
			{Name: "seq_max", Default: "2048", Doc: "longest sequence, seq_min .. 1048576; equal to seq_min for a fixed shape"},
			{Name: "act_factor", Default: "34", Doc: "activation bytes per token per hidden unit per layer at 2 bytes an element, 1 .. 1000"},
			{Name: "bucket_mb", Default: "25", Doc: "gradient bucket size in MiB, 1 .. 65536 (PyTorch DDP: 25)"},
			{Name: "checkpointing", Default: "false", Doc: "activation checkpointing: false or true"},
			{Name: "checkpoint_every", Default: "2", Doc: "with checkpointing, keep every k-th layer's activation, 1 .. layers"},
		},
		gen: genTraining,
	})
}

// trainingConfig is the parsed parameter set of training.
type trainingConfig struct {
	steps, layers, hidden, batch, dtype int64
	seqMin, seqMax, actFactor, bucket   int64
	checkpointing                       bool
	every                               int64
}

func parseTraining(p *params) (*trainingConfig, error) {
	c := &trainingConfig{}
	var err error
	for _, f := range []struct {
		v      *int64
		name   string
		lo, hi int64
	}{
		{&c.steps, "steps", 1, 100_000}, {&c.layers, "layers", 1, 1000}, {&c.hidden, "hidden", 1, 131072},
		{&c.batch, "batch", 1, 65536}, {&c.dtype, "dtype_bytes", 1, 8}, {&c.seqMin, "seq_min", 1, 1 << 20},
		{&c.actFactor, "act_factor", 1, 1000}, {&c.bucket, "bucket_mb", 1, 65536},
	} {
		if *f.v, err = p.int(f.name, f.lo, f.hi); err != nil {
			return nil, err
		}
	}
	if c.seqMax, err = p.int("seq_max", c.seqMin, 1<<20); err != nil {
		return nil, err
	}
	ck, err := p.choice("checkpointing", "false", "true")
	if err != nil {
		return nil, err
	}
	c.checkpointing = ck == "true"
	if c.every, err = p.int("checkpoint_every", 1, c.layers); err != nil {
		return nil, err
	}
	c.bucket *= mib
	return c, nil
}

// kept reports whether layer i's activation survives forward.
func (c *trainingConfig) kept(i int64) bool { return !c.checkpointing || i%c.every == 0 }

func genTraining(p *params, r *rand.Rand) ([]trace.Event, *trace.Tags, error) {
	c, err := parseTraining(p)
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder()
	layerBytes := 12 * c.hidden * c.hidden * c.dtype
	var persistent []int64
	for range c.layers {
		persistent = append(persistent, b.alloc(layerBytes, "weight"))
	}
	for range c.layers {
		persistent = append(persistent, b.alloc(layerBytes, "optimizer"), b.alloc(layerBytes, "optimizer"))
	}
	acts := make([]int64, c.layers)
	for range c.steps {
		seq := c.seqMin + r.Int63n(c.seqMax-c.seqMin+1)
		act := max(1, c.actFactor*c.batch*seq*c.hidden*c.dtype/2)
		for i := range c.layers {
			if c.kept(i) {
				acts[i] = b.alloc(act, "activation")
			}
		}
		var buckets []int64
		var pending int64
		for i := c.layers - 1; i >= 0; i-- {
			if !c.kept(i) {
				acts[i] = b.alloc(act, "activation") // recompute
			}
			pending += layerBytes
			if pending >= c.bucket {
				buckets = append(buckets, b.alloc(pending, "gradient"))
				pending = 0
			}
			b.free(acts[i])
		}
		if pending > 0 {
			buckets = append(buckets, b.alloc(pending, "gradient"))
		}
		// optimizer step, then the buckets go
		for _, id := range buckets {
			b.free(id)
		}
	}
	for i := len(persistent) - 1; i >= 0; i-- {
		b.free(persistent[i])
	}
	return b.events, b.tags, nil
}
