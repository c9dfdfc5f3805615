package generate

import (
	"bytes"
	"context"
	"os"
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

// small keeps the test workloads quick.
var small = map[string]map[string]string{
	"devlog":      nil,
	"random":      {"num_allocations": "500", "max_size": "8MiB"},
	"adversarial": {"min_size": "2MiB", "max_size": "16MiB", "live_bytes": "256MiB"},
	"llm-serving": {"requests": "50"},
	"training":    {"steps": "5"},
}

func TestNamesAndDocs(t *testing.T) {
	if got, want := Names(), []string{"adversarial", "devlog", "llm-serving", "random", "training"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range Names() {
		g, ok := Lookup(n)
		if !ok || g.Doc == "" || len(g.Params) == 0 {
			t.Errorf("%s: %+v", n, g)
		}
		for _, p := range g.Params {
			if p.Name == "" || p.Default == "" || p.Doc == "" {
				t.Errorf("%s: undocumented param %+v", n, p)
			}
		}
		// The defaults are valid.
		if _, _, err := Generate(n, nil, 1); err != nil {
			t.Errorf("%s with defaults: %v", n, err)
		}
	}
}

// checkValid fails unless every free is of a live id and ids are unique
// while live.
func checkValid(t *testing.T, name string, evs []trace.Event) {
	t.Helper()
	live := map[int64]bool{}
	for i, e := range evs {
		switch e.Op {
		case trace.OpAlloc:
			if live[e.ID] {
				t.Fatalf("%s: event %d: alloc of live id %d", name, i, e.ID)
			}
			if e.Size <= 0 {
				t.Fatalf("%s: event %d: size %d", name, i, e.Size)
			}
			live[e.ID] = true
		case trace.OpFree:
			if !live[e.ID] {
				t.Fatalf("%s: event %d: free of id %d that is not live", name, i, e.ID)
			}
			delete(live, e.ID)
		}
	}
	if len(live) != 0 {
		t.Errorf("%s: %d allocations live at the end", name, len(live))
	}
}

func TestValidAndDeterministic(t *testing.T) {
	for name, params := range small {
		a, _, err := Generate(name, params, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 {
			t.Fatalf("%s: no events", name)
		}
		checkValid(t, name, a)
		b, _, _ := Generate(name, params, 7)
		if !slices.Equal(a, b) {
			t.Errorf("%s: same seed, different events", name)
		}
		if name == "devlog" {
			continue // the seed is ignored
		}
		c, _, _ := Generate(name, params, 8)
		if slices.Equal(a, c) {
			t.Errorf("%s: seeds 7 and 8 give the same events", name)
		}
	}
	for _, order := range []string{"large-then-small", "expandable-pinned"} {
		evs, _, err := Generate("devlog", map[string]string{"order": order}, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkValid(t, order, evs)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"nope", nil, []string{`unknown generator "nope"`, "adversarial, devlog, llm-serving, random, training"}},
		{"random", map[string]string{"size": "1"}, []string{`unknown parameter "size"`, "num_allocations"}},
		{"random", map[string]string{"num_allocations": "0"}, []string{"num_allocations", "[1, 10000000]"}},
		{"random", map[string]string{"num_allocations": "x"}, []string{"num_allocations", "integer"}},
		{"random", map[string]string{"max_size": "lots"}, []string{"max_size", "invalid size"}},
		{"random", map[string]string{"alloc_percent": "101"}, []string{"alloc_percent", "[0, 100]"}},
		{"devlog", map[string]string{"order": "sideways"}, []string{"order", "small-then-large, large-then-small, expandable-pinned"}},
		{"adversarial", map[string]string{"min_size": "4MiB", "max_size": "2MiB"}, []string{"max_size", "[4.0 MiB"}},
		{"adversarial", map[string]string{"live_bytes": "1MiB"}, []string{"live_bytes", "[2.0 MiB"}},
	}
	for _, c := range cases {
		_, _, err := Generate(c.name, c.params, 1)
		if err == nil {
			t.Errorf("%s %v: no error", c.name, c.params)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error %q lacks %q", c.name, c.params, err, w)
			}
		}
	}
}

func TestDevlogMatchesExamples(t *testing.T) {
	for _, order := range []string{"small-then-large", "large-then-small"} {
		evs, tags, err := Generate("devlog", map[string]string{"order": order}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w := trace.NewJSONLWriter(&buf)
		for _, e := range evs {
			if err := w.Write(e, tags); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("../examples/traces/devlog-" + order + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from the example:\n%s", order, buf.String())
		}
	}
}

func TestAdversarialWastesUnderPytorch(t *testing.T) {
	evs, tags, err := Generate("adversarial", small["adversarial"], 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bin, ok := policies.Builtin("pytorch")
	if !ok {
		t.Fatal("no pytorch built-in")
	}
	mod, err := wasm.Compile(ctx, "pytorch", bin)
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Run(ctx, synth.NewReaderTags(evs, tags), mod, cudadriver.NewSim(cudadriver.SimOptions{}),
		replay.Options{CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	t.Logf("peak requested %d, allocated %d, reserved %d", m.PeakRequested, m.PeakAllocated, m.PeakReserved)
	if m.PeakRequested > 256<<20 {
		t.Errorf("peak requested %d passes live_bytes", m.PeakRequested)
	}
	if float64(m.PeakReserved) < 1.5*float64(m.PeakRequested) {
		t.Errorf("peak reserved %d is not well above peak requested %d", m.PeakReserved, m.PeakRequested)
	}
}
