package generate

import (
	"context"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/trace"
)

// tagName is the tag of e, "" when untagged.
func tagName(tags *trace.Tags, e trace.Event) string {
	n, _ := tags.Name(e.Tag)
	return n
}

func genOK(t *testing.T, name string, params map[string]string, seed int64) ([]trace.Event, *trace.Tags) {
	t.Helper()
	evs, tags, err := Generate(name, params, seed)
	if err != nil {
		t.Fatal(err)
	}
	checkValid(t, name, evs)
	return evs, tags
}

func TestLLMServingDefaults(t *testing.T) {
	for _, kv := range []string{"paged", "contiguous"} {
		for _, model := range []string{"7b", "13b", "70b-tp8"} {
			ps := map[string]string{"kv": kv, "model": model, "graph_batches": "1,2,4,8,16,32"}
			evs, _ := genOK(t, "llm-serving", ps, 3)
			if len(evs) >= 200_000 {
				t.Errorf("%v: %d events, want < 200k", ps, len(evs))
			}
			again, _, _ := Generate("llm-serving", ps, 3)
			if !slices.Equal(evs, again) {
				t.Errorf("%v: same seed, different events", ps)
			}
			other, _, _ := Generate("llm-serving", ps, 4)
			if slices.Equal(evs, other) {
				t.Errorf("%v: seeds 3 and 4 give the same events", ps)
			}
			t.Logf("%s %s: %d events", model, kv, len(evs))
		}
	}
}

// TestLLMServingKVSizes checks that KV blocks are sized from the model's
// dimensions: 2·layers·kv_heads·head_dim·dtype_bytes/tp bytes a token.
func TestLLMServingKVSizes(t *testing.T) {
	perToken := map[string]int64{
		"7b":      2 * 32 * 32 * 128 * 2,    // 512 KiB
		"13b":     2 * 40 * 40 * 128 * 2,    // 800 KiB
		"70b-tp8": 2 * 80 * 8 * 128 * 2 / 8, // 40 KiB
	}
	for model, bpt := range perToken {
		if got := llmPresets[model].kvBytesPerToken(); got != bpt {
			t.Errorf("%s: %d bytes a token, want %d", model, got, bpt)
		}
		evs, tags := genOK(t, "llm-serving", map[string]string{"model": model, "kv": "paged", "page_tokens": "16", "requests": "50"}, 1)
		n := 0
		for _, e := range evs {
			if e.Op == trace.OpAlloc && tagName(tags, e) == "kv_cache" {
				n++
				if e.Size != 16*bpt {
					t.Fatalf("%s paged: kv block of %d bytes, want 16×%d", model, e.Size, bpt)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no kv allocations", model)
		}
		evs, tags = genOK(t, "llm-serving", map[string]string{"model": model, "kv": "contiguous", "kv_block": "32", "requests": "50"}, 1)
		for _, e := range evs {
			if e.Op == trace.OpAlloc && tagName(tags, e) == "kv_cache" && e.Size%(32*bpt) != 0 {
				t.Fatalf("%s contiguous: kv tensor of %d bytes, not a multiple of 32×%d", model, e.Size, bpt)
			}
		}
	}
	// Explicit dimensions override the preset.
	evs, tags := genOK(t, "llm-serving", map[string]string{"layers": "2", "kv_heads": "3", "head_dim": "5", "dtype_bytes": "4", "tp": "1", "page_tokens": "7", "requests": "5"}, 1)
	for _, e := range evs {
		if e.Op == trace.OpAlloc && tagName(tags, e) == "kv_cache" && e.Size != 7*2*2*3*5*4 {
			t.Fatalf("explicit dims: kv page of %d bytes, want %d", e.Size, 7*2*2*3*5*4)
		}
	}
}

// TestLLMServingPromptMean draws 10k requests and checks the mean prompt,
// both as drawn and as read back from the trace (kv=contiguous with
// kv_block=1: a request's first KV tensor holds exactly its prompt).
func TestLLMServingPromptMean(t *testing.T) {
	for _, dist := range []string{"exponential", "lognormal"} {
		ps := map[string]string{
			"requests": "10000", "prompt_mean": "300", "output_mean": "2", "length_dist": dist,
			"max_batch": "4096", "arrival_rate": "50", "kv": "contiguous", "kv_block": "1",
			"layers": "1", "kv_heads": "1", "head_dim": "1", "dtype_bytes": "1", "tp": "1",
		}
		evs, tags := genOK(t, "llm-serving", ps, 11)
		// Read back: a first KV tensor is an alloc not immediately followed by
		// the free of the tensor it replaces. kv bytes per token = 2.
		var sum, n float64
		kvLive := map[int64]bool{}
		for i, e := range evs {
			if e.Op == trace.OpFree {
				delete(kvLive, e.ID)
				continue
			}
			if e.Op != trace.OpAlloc || tagName(tags, e) != "kv_cache" {
				continue
			}
			growth := i+1 < len(evs) && evs[i+1].Op == trace.OpFree && kvLive[evs[i+1].ID]
			kvLive[e.ID] = true
			if !growth {
				sum += float64(e.Size / 2)
				n++
			}
		}
		if n != 10000 {
			t.Fatalf("%s: %v first kv tensors, want 10000", dist, n)
		}
		if mean := sum / n; math.Abs(mean-300)/300 > 0.05 {
			t.Errorf("%s: trace mean prompt %.1f, want 300 ± 5%%", dist, mean)
		} else {
			t.Logf("%s: trace mean prompt %.1f over %v requests (%d events)", dist, mean, n, len(evs))
		}
		// The drawn lengths directly, prompt and output.
		p := &params{gen: registry["llm-serving"], values: map[string]string{}}
		for _, d := range p.gen.Params {
			p.values[d.Name] = d.Default
		}
		for k, v := range ps {
			p.values[k] = v
		}
		p.values["output_mean"] = "100"
		c, err := parseLLM(p)
		if err != nil {
			t.Fatal(err)
		}
		reqs := c.drawRequests(rand.New(rand.NewSource(5)))
		var ps2, os2 float64
		for _, q := range reqs {
			ps2 += float64(q.prompt)
			os2 += float64(q.output)
		}
		last := float64(reqs[len(reqs)-1].arrival)
		if pm, om, rate := ps2/1e4, os2/1e4, 1e4/(last+1); math.Abs(pm-300)/300 > 0.05 || math.Abs(om-100)/100 > 0.05 || math.Abs(rate-50)/50 > 0.05 {
			t.Errorf("%s: drawn prompt mean %.1f, output mean %.1f, rate %.2f; want 300, 100, 50 ± 5%%", dist, pm, om, rate)
		}
	}
}

// TestLLMServingBatchingAndGraphs checks continuous batching bounds, the
// CUDA-graph workspaces of graph_pool=none (live blocks of the default
// pool) and that weights come first and go last.
func TestLLMServingBatchingAndGraphs(t *testing.T) {
	ps := map[string]string{"requests": "100", "max_batch": "8", "graph_batches": "8,1,4,2", "graph_order": "decreasing", "graph_pool": "none"}
	evs, tags := genOK(t, "llm-serving", ps, 2)
	// 34 weights (embedding, 32 layers, LM head), then 4 workspaces, decreasing.
	m := llmPresets["7b"]
	for i := 0; i < 34; i++ {
		if tagName(tags, evs[i]) != "weight" {
			t.Fatalf("event %d: %v, want a weight", i, evs[i])
		}
	}
	var prev int64 = math.MaxInt64
	for i := 34; i < 38; i++ {
		e := evs[i]
		if tagName(tags, e) != "workspace" || e.Size >= prev {
			t.Fatalf("event %d: %v, want workspaces of decreasing size", i, e)
		}
		prev = e.Size
	}
	var ws int64
	for _, s := range m.activationSizes(8, 8) {
		ws += s
	}
	if evs[34].Size != ws {
		t.Errorf("workspace for batch 8: %d bytes, want %d", evs[34].Size, ws)
	}
	// Persistent blocks stay live until the last 38 events.
	for _, e := range evs[len(evs)-38:] {
		if e.Op != trace.OpFree || e.ID >= 38 {
			t.Fatalf("tail event %v, want the free of a weight or workspace", e)
		}
	}
	// Activation steps: 4 blocks each; the token count never passes the batch
	// bound for decode-only steps (those replay graphs here: max_batch ≤ 8).
	var kvLive, maxKV int
	kvIDs := map[int64]bool{}
	for _, e := range evs {
		switch {
		case e.Op == trace.OpAlloc && tagName(tags, e) == "kv_cache":
			kvIDs[e.ID] = true
			kvLive++
			maxKV = max(maxKV, kvLive)
		case e.Op == trace.OpFree && kvIDs[e.ID]:
			kvLive--
		}
	}
	if maxKV == 0 {
		t.Error("no kv cache")
	}
	// Without graphs, every step allocates 4 activation blocks freed at its end.
	evs, tags = genOK(t, "llm-serving", map[string]string{"requests": "100", "max_batch": "8"}, 2)
	acts := map[int64]bool{}
	for _, e := range evs {
		if e.Op == trace.OpAlloc && tagName(tags, e) == "activation" {
			acts[e.ID] = true
			if len(acts) > 4 {
				t.Fatal("more than one step's activations live")
			}
		}
		if e.Op == trace.OpFree {
			delete(acts, e.ID)
		}
	}
}

func TestLLMServingErrors(t *testing.T) {
	for _, c := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"model": "405b"}, "7b, 13b, 70b-tp8"},
		{map[string]string{"arrival_rate": "0"}, "[0.001, 1000]"},
		{map[string]string{"graph_batches": "1,x"}, "comma list"},
		{map[string]string{"kv": "ring"}, "paged, contiguous"},
		{map[string]string{"graph_pool": "private"}, "shared, per-graph, none"},
		{map[string]string{"tp": "64", "model": "70b-tp8", "layers": "1", "head_dim": "1", "kv_heads": "1", "dtype_bytes": "1"}, "under one byte"},
	} {
		_, _, err := Generate("llm-serving", c.params, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.params, err, c.want)
		}
	}
}

// capture is one CUDA-graph capture as a trace shows it: the private pool
// its workspace blocks were allocated from and the batch size they are
// sized for.
type capture struct {
	pool, batch int64
}

// TestLLMServingGraphPools checks the private pools of the CUDA-graph
// captures: which pool each capture allocates from, that a capture frees
// its blocks into its pool before the next starts, that no other
// allocation uses a private pool, that serving steps replaying graphs
// allocate nothing, and that the teardown releases every pool once, last
// captured first, before the weights are freed. A replay under pytorch
// then accepts the trace and counts the pools' bytes.
func TestLLMServingGraphPools(t *testing.T) {
	m := llmPresets["7b"]
	// workspace is the bytes a capture of batch size g allocates.
	workspace := func(g int64) int64 {
		var n int64
		for _, s := range m.activationSizes(g, g) {
			n += s
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		params   map[string]string
		captures []capture // in order
		releases []int64   // release_pool events, in order
	}{
		{"shared by default, vLLM order", map[string]string{"graph_batches": "1,2,4,8", "graph_order": "decreasing"},
			[]capture{{1, 8}, {1, 4}, {1, 2}, {1, 1}}, []int64{1}},
		{"shared, increasing", map[string]string{"graph_batches": "4,1,2", "graph_pool": "shared"},
			[]capture{{1, 1}, {1, 2}, {1, 4}}, []int64{1}},
		{"per-graph, increasing", map[string]string{"graph_batches": "8,1,4,2", "graph_pool": "per-graph"},
			[]capture{{1, 1}, {2, 2}, {3, 4}, {4, 8}}, []int64{4, 3, 2, 1}},
		{"per-graph, decreasing", map[string]string{"graph_batches": "8,1,4,2", "graph_pool": "per-graph", "graph_order": "decreasing"},
			[]capture{{1, 8}, {2, 4}, {3, 2}, {4, 1}}, []int64{4, 3, 2, 1}},
		{"one graph", map[string]string{"graph_batches": "8", "graph_pool": "per-graph"},
			[]capture{{1, 8}}, []int64{1}},
		{"none: live workspaces, no pool", map[string]string{"graph_batches": "1,2", "graph_pool": "none"}, nil, nil},
		{"no graphs", map[string]string{"graph_pool": "per-graph"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := map[string]string{"requests": "60", "max_batch": "8"}
			for k, v := range tc.params {
				ps[k] = v
			}
			evs, tags := genOK(t, "llm-serving", ps, 5)
			again, _, _ := Generate("llm-serving", ps, 5)
			if !slices.Equal(evs, again) {
				t.Fatal("same seed, different events")
			}
			var (
				got      []capture
				releases []int64
				open     = map[int64]int64{} // live workspace id -> pool
				lastWS   = -1                // index of the last workspace event
			)
			for i, e := range evs {
				switch e.Op {
				case trace.OpAlloc:
					name := tagName(tags, e)
					if e.Pool != 0 && name != "workspace" {
						t.Fatalf("event %d: %s alloc in private pool %d; only graph captures use pools", i, name, e.Pool)
					}
					if name != "workspace" || e.Pool == 0 {
						if len(open) > 0 {
							t.Fatalf("event %d: %s alloc while a capture's blocks are live", i, name)
						}
						continue
					}
					lastWS = i
					if len(open) == 0 {
						got = append(got, capture{pool: e.Pool})
					}
					c := &got[len(got)-1]
					if e.Pool != c.pool {
						t.Fatalf("event %d: one capture allocates from pools %d and %d", i, c.pool, e.Pool)
					}
					open[e.ID] = e.Pool
					// The first block is the residual stream, batch·hidden·dtype.
					if len(open) == 1 {
						c.batch = e.Size / (m.hidden * m.dtype)
					}
				case trace.OpFree:
					if _, ok := open[e.ID]; ok {
						delete(open, e.ID)
						lastWS = i
					}
				case trace.OpReleasePool:
					releases = append(releases, e.Pool)
					// The rest of the trace is releases and the frees of the weights.
					for _, r := range evs[i+1:] {
						if r.Op == trace.OpAlloc {
							t.Fatalf("event %d: release_pool of %d before an alloc", i, e.Pool)
						}
					}
				}
			}
			if !slices.Equal(got, tc.captures) {
				t.Errorf("captures (pool, batch) %v, want %v", got, tc.captures)
			}
			for _, c := range got {
				var n int64
				for _, e := range evs {
					if e.Op == trace.OpAlloc && e.Pool == c.pool && tagName(tags, e) == "workspace" && e.Size == c.batch*m.hidden*m.dtype {
						n++
					}
				}
				if n == 0 {
					t.Errorf("capture %v: no residual block", c)
				}
			}
			if !slices.Equal(releases, tc.releases) {
				t.Errorf("release_pool events %v, want %v", releases, tc.releases)
			}
			// Steps: after the captures, no workspace is allocated, and the
			// activations of each step are freed within it.
			for i, e := range evs {
				if i > lastWS && e.Op == trace.OpAlloc && tagName(tags, e) == "workspace" && tc.captures != nil {
					t.Fatalf("event %d: workspace after the captures", i)
				}
			}
			// Replays allocate nothing: the steps' activations are those of
			// graph_pool=none with the same graphs, fewer than without graphs.
			acts := func(evs []trace.Event, tags *trace.Tags) (n int) {
				for _, e := range evs {
					if e.Op == trace.OpAlloc && tagName(tags, e) == "activation" {
						n++
					}
				}
				return n
			}
			if tc.captures != nil {
				none := map[string]string{"graph_pool": "none"}
				nograph := map[string]string{"graph_batches": "none"}
				for k, v := range ps {
					if k != "graph_pool" {
						none[k] = v
					}
					if k != "graph_batches" {
						nograph[k] = v
					}
				}
				e1, t1 := genOK(t, "llm-serving", none, 5)
				e2, t2 := genOK(t, "llm-serving", nograph, 5)
				if a, a1, a2 := acts(evs, tags), acts(e1, t1), acts(e2, t2); a != a1 || a >= a2 {
					t.Errorf("%d activation blocks; want %d as with graph_pool=none, fewer than the %d without graphs", a, a1, a2)
				}
			}
			if tc.name == "none: live workspaces, no pool" {
				var ws []int64
				for _, e := range evs {
					if e.Op == trace.OpAlloc && tagName(tags, e) == "workspace" {
						ws = append(ws, e.Size)
					}
				}
				if want := []int64{workspace(1), workspace(2)}; !slices.Equal(ws, want) {
					t.Errorf("workspaces %v, want one live block per graph %v", ws, want)
				}
			}

			// The host accepts the trace: pools created by their first
			// allocation, released once; the pools' bytes are counted.
			bin, _ := policies.Builtin("pytorch")
			mod, err := wasm.Compile(context.Background(), "pytorch", bin)
			if err != nil {
				t.Fatal(err)
			}
			res, err := replay.Run(context.Background(), synth.NewReaderTags(evs, tags), mod, cudadriver.NewSim(cudadriver.SimOptions{}),
				replay.Options{CheckInvariants: true})
			if err != nil {
				t.Fatal(err)
			}
			st := res.Stats
			pools := map[int64]bool{}
			for _, c := range tc.captures {
				pools[c.pool] = true
			}
			if st.PrivatePools != int64(len(pools)) || st.PoolReleases != int64(len(tc.releases)) {
				t.Errorf("host: %d private pools, %d releases; want %d, %d", st.PrivatePools, st.PoolReleases, len(pools), len(tc.releases))
			}
			if (st.PeakPrivateReserved > 0) != (len(pools) > 0) {
				t.Errorf("host: peak private reserved %d with %d pools", st.PeakPrivateReserved, len(pools))
			}
			t.Logf("%d events; peak reserved %d, peak private reserved %d", len(evs), st.PeakReserved, st.PeakPrivateReserved)
		})
	}
}

// TestLLMServingSharedPoolIsSmaller: vLLM shares one pool across the
// captured batch sizes because, captured largest first, the smaller
// graphs fit in the memory of the largest. One pool per graph holds more.
func TestLLMServingSharedPoolIsSmaller(t *testing.T) {
	peak := func(pool, order string) int64 {
		t.Helper()
		ps := map[string]string{"requests": "20", "model": "13b", "graph_batches": "1,2,4,8,16,32", "graph_pool": pool, "graph_order": order}
		evs, tags := genOK(t, "llm-serving", ps, 1)
		bin, _ := policies.Builtin("pytorch")
		mod, err := wasm.Compile(context.Background(), "pytorch", bin)
		if err != nil {
			t.Fatal(err)
		}
		res, err := replay.Run(context.Background(), synth.NewReaderTags(evs, tags), mod, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Stats.PeakPrivateReserved
	}
	shared, perGraph := peak("shared", "decreasing"), peak("per-graph", "decreasing")
	t.Logf("13b, batches 1..32 captured largest first: shared pool %d bytes, one pool per graph %d", shared, perGraph)
	if shared >= perGraph {
		t.Errorf("shared pool %d bytes, per-graph pools %d: want the shared one smaller", shared, perGraph)
	}
}
