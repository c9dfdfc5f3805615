package generate

import (
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

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
// CUDA-graph workspaces and that weights come first and go last.
func TestLLMServingBatchingAndGraphs(t *testing.T) {
	ps := map[string]string{"requests": "100", "max_batch": "8", "graph_batches": "8,1,4,2", "graph_order": "decreasing"}
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
		{map[string]string{"tp": "64", "model": "70b-tp8", "layers": "1", "head_dim": "1", "kv_heads": "1", "dtype_bytes": "1"}, "under one byte"},
	} {
		_, _, err := Generate("llm-serving", c.params, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.params, err, c.want)
		}
	}
}
