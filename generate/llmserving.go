package generate

import (
	"math"
	"math/rand"
	"slices"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/trace"
)

func init() {
	register(&Generator{
		Name: "llm-serving",
		Doc: "LLM inference serving with continuous batching (Orca/vLLM style). requests requests " +
			"arrive as a Poisson process of arrival_rate per step, with prompt and output lengths drawn " +
			"from an exponential or lognormal distribution of mean prompt_mean and output_mean tokens. " +
			"Up to max_batch requests run at once: a waiting request is admitted when a slot is free, " +
			"its first step is the prefill of the whole prompt (which also yields the first output " +
			"token) and every later step decodes one token. Each request owns a KV cache of " +
			"2·layers·kv_heads·head_dim·dtype_bytes/tp bytes per token holding its prompt plus the " +
			"tokens fed back: kv=contiguous keeps one tensor re-allocated in chunks of kv_block tokens " +
			"as it grows (alloc the new, then free the old: naive serving), kv=paged adds a page of " +
			"page_tokens tokens when the last is full (vLLM's PagedAttention); a finished request frees " +
			"its cache. Every step allocates activations scaled by its token count at its start and " +
			"frees them at its end. Weights (one block per layer plus embeddings) are allocated first. " +
			"With graph_batches, start-up captures one CUDA graph per batch size: the capture allocates " +
			"that batch's decode activations (tag workspace) from a private memory pool and frees them " +
			"into it, so the pool's segments hold the graph's memory and serve nothing else; " +
			"graph_pool=shared (vLLM) captures every batch size into one pool, per-graph gives each its " +
			"own, none keeps each workspace as a live block of the default pool instead. A decode-only " +
			"step whose batch fits a captured size replays a graph and allocates nothing. At the end the " +
			"graphs are destroyed (release_pool of each pool) and the weights freed. " +
			"Tags: weight, kv_cache, activation, workspace.",
		Params: []Param{
			{Name: "model", Default: "7b", Doc: "dimension preset: 7b (32 layers, hidden 4096, 32 KV heads of 128, FFN 11008, fp16), 13b (40, 5120, 40 KV heads of 128, FFN 13824, fp16) or 70b-tp8 (80, 8192, GQA 8 KV heads of 128, FFN 28672, fp16, split over tp=8 GPUs); vocabulary 32000"},
			{Name: "layers", Default: "0", Doc: "transformer layers, 1 .. 1000; 0 takes the model's"},
			{Name: "hidden", Default: "0", Doc: "hidden size, 1 .. 131072; 0 takes the model's"},
			{Name: "kv_heads", Default: "0", Doc: "key/value heads, 1 .. 1024; 0 takes the model's"},
			{Name: "head_dim", Default: "0", Doc: "dimension of a head, 1 .. 4096; 0 takes the model's"},
			{Name: "ffn", Default: "0", Doc: "MLP intermediate size, 1 .. 1048576; 0 takes the model's"},
			{Name: "dtype_bytes", Default: "0", Doc: "bytes per element, 1 .. 8; 0 takes the model's (2)"},
			{Name: "tp", Default: "0", Doc: "tensor-parallel degree (the trace is one GPU's share), 1 .. 64; 0 takes the model's"},
			{Name: "requests", Default: "200", Doc: "requests in the trace, 1 .. 1000000"},
			{Name: "arrival_rate", Default: "0.5", Doc: "mean arrivals per step (Poisson), 0.001 .. 1000"},
			{Name: "prompt_mean", Default: "512", Doc: "mean prompt length in tokens, 1 .. 1000000"},
			{Name: "output_mean", Default: "128", Doc: "mean output length in tokens, 1 .. 1000000"},
			{Name: "length_dist", Default: "lognormal", Doc: "distribution of both lengths: exponential or lognormal (μ = ln mean − σ²/2, so the mean is the given one); lengths are rounded, at least 1 and at most 1048576"},
			{Name: "length_sigma", Default: "1", Doc: "σ of the lognormal, 0.01 .. 3"},
			{Name: "max_batch", Default: "32", Doc: "requests running at once, 1 .. 65536"},
			{Name: "kv", Default: "paged", Doc: "KV cache layout: paged or contiguous"},
			{Name: "page_tokens", Default: "16", Doc: "tokens per KV page (kv=paged), 1 .. 65536 (vLLM: 16)"},
			{Name: "kv_block", Default: "16", Doc: "growth chunk in tokens of a contiguous KV tensor (kv=contiguous), 1 .. 65536"},
			{Name: "graph_batches", Default: "none", Doc: "batch sizes to capture as CUDA graphs, a comma list such as 1,2,4,8,16,32 (each 1 .. 65536), or none"},
			{Name: "graph_order", Default: "increasing", Doc: "order of the captures at start-up: increasing or decreasing (vLLM captures decreasing)"},
			{Name: "graph_pool", Default: "shared", Doc: "memory pool of the captures: shared (one private pool for every captured batch size, as vLLM's graph_memory_pool), per-graph (a private pool per batch size, pool ids in capture order) or none (no private pool: each graph keeps its workspace as one live block of the default pool; trace files, which do not hold pools, need it)"},
		},
		gen: genLLMServing,
	})
}

// llmModel holds the dimensions of a served model.
type llmModel struct {
	layers, hidden, kvHeads, headDim, ffn, dtype, tp, vocab int64
}

var llmPresets = map[string]llmModel{
	"7b":      {layers: 32, hidden: 4096, kvHeads: 32, headDim: 128, ffn: 11008, dtype: 2, tp: 1, vocab: 32000},
	"13b":     {layers: 40, hidden: 5120, kvHeads: 40, headDim: 128, ffn: 13824, dtype: 2, tp: 1, vocab: 32000},
	"70b-tp8": {layers: 80, hidden: 8192, kvHeads: 8, headDim: 128, ffn: 28672, dtype: 2, tp: 8, vocab: 32000},
}

// kvBytesPerToken is the KV cache of one token on one GPU: K and V for every layer.
func (m llmModel) kvBytesPerToken() int64 {
	return 2 * m.layers * m.kvHeads * m.headDim * m.dtype / m.tp
}

// layerWeightBytes is one layer's weights on one GPU: q and o projections (h×h),
// k and v (h×kv_heads·head_dim), and the gated MLP (3·h×ffn).
func (m llmModel) layerWeightBytes() int64 {
	kvDim := m.kvHeads * m.headDim
	return max(1, (2*m.hidden*m.hidden+2*m.hidden*kvDim+3*m.hidden*m.ffn)*m.dtype/m.tp)
}

// activationSizes are the blocks a step over tokens tokens of seqs sequences
// allocates: residual stream, q/k/v, MLP gate and up, fp32 logits of the last tokens.
func (m llmModel) activationSizes(tokens, seqs int64) []int64 {
	kvDim := m.kvHeads * m.headDim
	return []int64{
		max(1, tokens*m.hidden*m.dtype),
		max(1, tokens*(m.hidden+2*kvDim)*m.dtype/m.tp),
		max(1, tokens*2*m.ffn*m.dtype/m.tp),
		max(1, seqs*m.vocab*4/m.tp),
	}
}

// float reads a decimal parameter in [lo, hi].
func (p *params) float(name string, lo, hi float64) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(p.values[name]), 64)
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
		return 0, p.errorf(name, "want a number in [%g, %g]", lo, hi)
	}
	return f, nil
}

// override replaces *v by the parameter name when it is not 0.
func (p *params) override(v *int64, name string, hi int64) error {
	n, err := p.int(name, 0, hi)
	if err != nil {
		return err
	}
	if n != 0 {
		*v = n
	}
	return nil
}

// poisson draws a Poisson variate of mean lambda (Knuth's method, in chunks of 30).
func poisson(r *rand.Rand, lambda float64) int {
	n := 0
	for lambda > 0 {
		l := min(lambda, 30)
		lambda -= l
		limit, prod := math.Exp(-l), r.Float64()
		for prod > limit {
			n++
			prod *= r.Float64()
		}
	}
	return n
}

const maxTokens = 1 << 20

// drawLength draws a token count of the given mean.
func drawLength(r *rand.Rand, dist string, mean, sigma float64) int64 {
	var x float64
	if dist == "exponential" {
		x = r.ExpFloat64() * mean
	} else {
		x = math.Exp(math.Log(mean) - sigma*sigma/2 + sigma*r.NormFloat64())
	}
	return min(max(1, int64(math.Round(x))), maxTokens)
}

type llmRequest struct {
	arrival        int64 // step
	prompt, output int64 // tokens
}

// llmConfig is the parsed parameter set of llm-serving.
type llmConfig struct {
	m                      llmModel
	requests               int64
	rate                   float64
	promptMean, outputMean float64
	dist                   string
	sigma                  float64
	maxBatch               int64
	kv                     string
	pageTokens, kvBlock    int64
	graphs                 []int64 // captured batch sizes, in capture order
	graphPool              string  // shared, per-graph or none
}

func parseLLM(p *params) (*llmConfig, error) {
	c := &llmConfig{}
	model, err := p.choice("model", "7b", "13b", "70b-tp8")
	if err != nil {
		return nil, err
	}
	c.m = llmPresets[model]
	for _, o := range []struct {
		v    *int64
		name string
		hi   int64
	}{
		{&c.m.layers, "layers", 1000}, {&c.m.hidden, "hidden", 131072}, {&c.m.kvHeads, "kv_heads", 1024},
		{&c.m.headDim, "head_dim", 4096}, {&c.m.ffn, "ffn", 1 << 20}, {&c.m.dtype, "dtype_bytes", 8}, {&c.m.tp, "tp", 64},
	} {
		if err := p.override(o.v, o.name, o.hi); err != nil {
			return nil, err
		}
	}
	if c.requests, err = p.int("requests", 1, 1_000_000); err != nil {
		return nil, err
	}
	if c.rate, err = p.float("arrival_rate", 0.001, 1000); err != nil {
		return nil, err
	}
	if c.promptMean, err = p.float("prompt_mean", 1, 1_000_000); err != nil {
		return nil, err
	}
	if c.outputMean, err = p.float("output_mean", 1, 1_000_000); err != nil {
		return nil, err
	}
	if c.dist, err = p.choice("length_dist", "exponential", "lognormal"); err != nil {
		return nil, err
	}
	if c.sigma, err = p.float("length_sigma", 0.01, 3); err != nil {
		return nil, err
	}
	if c.maxBatch, err = p.int("max_batch", 1, 65536); err != nil {
		return nil, err
	}
	if c.kv, err = p.choice("kv", "paged", "contiguous"); err != nil {
		return nil, err
	}
	if c.pageTokens, err = p.int("page_tokens", 1, 65536); err != nil {
		return nil, err
	}
	if c.kvBlock, err = p.int("kv_block", 1, 65536); err != nil {
		return nil, err
	}
	order, err := p.choice("graph_order", "increasing", "decreasing")
	if err != nil {
		return nil, err
	}
	if c.graphPool, err = p.choice("graph_pool", "shared", "per-graph", "none"); err != nil {
		return nil, err
	}
	if g := strings.TrimSpace(p.values["graph_batches"]); g != "none" {
		for _, f := range strings.Split(g, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n < 1 || n > 65536 {
				return nil, p.errorf("graph_batches", "want none or a comma list of batch sizes in [1, 65536]")
			}
			c.graphs = append(c.graphs, n)
		}
		slices.Sort(c.graphs)
		c.graphs = slices.Compact(c.graphs)
		if order == "decreasing" {
			slices.Reverse(c.graphs)
		}
	}
	if c.m.kvBytesPerToken() < 1 {
		return nil, p.errorf("tp", "the KV cache of a token, 2·layers·kv_heads·head_dim·dtype_bytes/tp, is under one byte")
	}
	return c, nil
}

// drawRequests draws the requests in arrival order: Poisson arrivals per step
// and independent prompt and output lengths.
func (c *llmConfig) drawRequests(r *rand.Rand) []llmRequest {
	reqs := make([]llmRequest, 0, c.requests)
	for step := int64(0); int64(len(reqs)) < c.requests; step++ {
		for n := poisson(r, c.rate); n > 0 && int64(len(reqs)) < c.requests; n-- {
			reqs = append(reqs, llmRequest{
				arrival: step,
				prompt:  drawLength(r, c.dist, c.promptMean, c.sigma),
				output:  drawLength(r, c.dist, c.outputMean, c.sigma),
			})
		}
	}
	return reqs
}

func genLLMServing(p *params, r *rand.Rand) ([]trace.Event, *trace.Tags, error) {
	c, err := parseLLM(p)
	if err != nil {
		return nil, nil, err
	}
	reqs := c.drawRequests(r)
	kvTok := c.m.kvBytesPerToken()
	b := newBuilder()

	var persistent []int64 // weights (and graph_pool=none workspaces), freed at the very end
	emb := max(1, c.m.vocab*c.m.hidden*c.m.dtype/c.m.tp)
	persistent = append(persistent, b.alloc(emb, "weight"))
	for range c.m.layers {
		persistent = append(persistent, b.alloc(c.m.layerWeightBytes(), "weight"))
	}
	persistent = append(persistent, b.alloc(emb, "weight")) // LM head
	maxGraph, pools := c.capture(b, &persistent)

	type running struct {
		llmRequest
		tokens   int64   // tokens in the KV cache
		produced int64   // output tokens so far
		capacity int64   // tokens the cache holds
		ids      []int64 // contiguous: one tensor; paged: the pages
		prefill  bool    // admitted this step
	}
	// grow makes room for q.tokens tokens in q's cache.
	grow := func(q *running) {
		if q.tokens <= q.capacity {
			return
		}
		if c.kv == "paged" {
			for q.capacity < q.tokens {
				q.ids = append(q.ids, b.alloc(c.pageTokens*kvTok, "kv_cache"))
				q.capacity += c.pageTokens
			}
			return
		}
		q.capacity = (q.tokens + c.kvBlock - 1) / c.kvBlock * c.kvBlock
		id := b.alloc(q.capacity*kvTok, "kv_cache")
		if len(q.ids) > 0 {
			b.free(q.ids[0])
			q.ids[0] = id
		} else {
			q.ids = append(q.ids, id)
		}
	}

	var run []*running
	next := 0 // first request not yet admitted
	for step := int64(0); next < len(reqs) || len(run) > 0; step++ {
		for next < len(reqs) && reqs[next].arrival <= step && int64(len(run)) < c.maxBatch {
			run = append(run, &running{llmRequest: reqs[next], prefill: true})
			next++
		}
		if len(run) == 0 {
			continue // idle until the next arrival
		}
		var tokens int64
		decodeOnly := true
		for _, q := range run {
			if q.prefill {
				tokens += q.prompt
				decodeOnly = false
			} else {
				tokens++
			}
		}
		var acts []int64
		if !(decodeOnly && int64(len(run)) <= maxGraph) {
			for _, s := range c.m.activationSizes(tokens, int64(len(run))) {
				acts = append(acts, b.alloc(s, "activation"))
			}
		}
		for _, q := range run {
			if q.prefill {
				q.tokens, q.prefill = q.prompt, false
			} else {
				q.tokens++ // the last output token is fed back
			}
			q.produced++
			grow(q)
		}
		for i := len(acts) - 1; i >= 0; i-- {
			b.free(acts[i])
		}
		run = slices.DeleteFunc(run, func(q *running) bool {
			if q.produced < q.output {
				return false
			}
			for _, id := range q.ids {
				b.free(id)
			}
			return true
		})
	}
	// Teardown: the graphs are destroyed, last captured first, which lets
	// go of their pools; then the weights (and workspaces) are freed.
	for i := len(pools) - 1; i >= 0; i-- {
		b.releasePool(pools[i])
	}
	for i := len(persistent) - 1; i >= 0; i-- {
		b.free(persistent[i])
	}
	return b.events, b.tags, nil
}

// capture captures one CUDA graph per batch size of c.graphs, in order,
// and returns the largest captured batch size and the private pools used,
// in order of first use.
//
// With a private pool (graph_pool shared or per-graph), a capture runs
// the decode step of its batch size once inside the pool: its activations
// are allocated from the pool, tagged workspace, and freed into it at the
// end of the capture, as in vLLM's CUDAGraphRunner.capture under
// torch.cuda.graph(pool=...), where the outputs are kept only as weak
// references. The pool keeps those blocks cached for the graph's replays
// (they run at the same addresses) and for later captures into the same
// pool; nothing outside the pool can use them. vLLM passes one
// graph_memory_pool to every capture (shared): captured largest first,
// the smaller graphs fit in the memory of the largest. With graph_pool
// none, each graph's workspace is one live block of the default pool,
// freed at the end with the weights (appended to persistent).
func (c *llmConfig) capture(b *builder, persistent *[]int64) (maxGraph int64, pools []int64) {
	for i, g := range c.graphs {
		maxGraph = max(maxGraph, g)
		sizes := c.m.activationSizes(g, g)
		if c.graphPool == "none" {
			var ws int64
			for _, s := range sizes {
				ws += s
			}
			*persistent = append(*persistent, b.alloc(ws, "workspace"))
			continue
		}
		pool := int64(1)
		if c.graphPool == "per-graph" {
			pool = int64(i + 1)
		}
		if len(pools) == 0 || pools[len(pools)-1] != pool {
			pools = append(pools, pool)
		}
		ids := make([]int64, len(sizes))
		for j, s := range sizes {
			ids[j] = b.allocIn(s, "workspace", pool)
		}
		for j := len(ids) - 1; j >= 0; j-- {
			b.free(ids[j])
		}
	}
	return maxGraph, pools
}
