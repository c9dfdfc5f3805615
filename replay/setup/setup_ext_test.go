package setup_test

import (
	"io"
	"slices"
	"testing"

	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
	"github.com/fraglab/fraglab/traceconv"
)

// tagNames are the tag names of r's events, in order.
func tagNames(t *testing.T, r trace.Reader) []string {
	t.Helper()
	var out []string
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n, _ := r.Tags().Name(e.Tag)
		out = append(out, n)
	}
}

// TestTagRulesBothCallers: a snapshot's tag rules reach its events the same
// way whether a replay (setup.OpenWorkload, as fraglab replay and the
// runner's workers) or trace convert and stats (traceconv.Open) open it.
func TestTagRulesBothCallers(t *testing.T) {
	const snap = "../../snapshot/testdata/pytorch-mempool.pickle"
	allWeight, err := snapshot.ParseTagRules([]byte("rules:\n  - tag: weight\n    file: .py\n"), "all-weight.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		rules []snapshot.TagRule
		want  string // a tag some event has
		never string // a tag no event has
	}{
		{name: "default", rules: nil, want: "activation", never: "weight"},
		{name: "all weight", rules: allWeight, want: "weight", never: "activation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := setup.OpenWorkload(setup.WorkloadSpec{Trace: snap, TagRules: tt.rules})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			src, err := traceconv.Open(snap, traceconv.OpenOptions{TagRules: tt.rules})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			a, b := tagNames(t, w.Reader), tagNames(t, src.Reader)
			if !slices.Equal(a, b) {
				t.Fatalf("replay tags %q, traceconv tags %q", a, b)
			}
			if !slices.Contains(a, tt.want) || slices.Contains(a, tt.never) {
				t.Errorf("tags %q: want some %s and no %s", a, tt.want, tt.never)
			}
			if len(src.Initial) != len(w.Initial) {
				t.Errorf("traceconv: %d initial segments, replay %d", len(src.Initial), len(w.Initial))
			}
		})
	}
}
