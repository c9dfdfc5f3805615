package generate

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/trace"
)

// trainingSteps splits a training trace into its steps: a step starts with
// an activation allocated while none is live. It returns, per step, the
// activation allocations, those freed with no other activation event in
// between (recomputations in backward, and the last layer's activation when
// it is kept, which backward frees at once), and the gradient bucket sizes.
func trainingSteps(t *testing.T, evs []trace.Event, tags *trace.Tags) (acts, immediate []int, grads [][]int64) {
	t.Helper()
	live := map[int64]bool{}
	var last int64 = -1 // the last activation event's id, if it was an alloc
	for _, e := range evs {
		switch {
		case e.Op == trace.OpAlloc && tagName(tags, e) == "activation":
			if len(live) == 0 {
				acts, immediate, grads = append(acts, 0), append(immediate, 0), append(grads, nil)
			}
			acts[len(acts)-1]++
			live[e.ID] = true
			last = e.ID
		case e.Op == trace.OpAlloc && tagName(tags, e) == "gradient":
			grads[len(grads)-1] = append(grads[len(grads)-1], e.Size)
		case e.Op == trace.OpFree && live[e.ID]:
			if e.ID == last {
				immediate[len(immediate)-1]++
			}
			delete(live, e.ID)
			last = -1
		}
	}
	return
}

func TestTraining(t *testing.T) {
	ps := map[string]string{"steps": "10", "layers": "12", "hidden": "1024", "batch": "2", "seq_min": "128", "seq_max": "1024"}
	evs, tags := genOK(t, "training", ps, 5)
	again, _, _ := Generate("training", ps, 5)
	if !slices.Equal(evs, again) {
		t.Error("same seed, different events")
	}
	other, _, _ := Generate("training", ps, 6)
	if slices.Equal(evs, other) {
		t.Error("seeds 5 and 6 give the same events")
	}
	// Persistent state first: 12 weights, 24 optimizer blocks of 12·h²·2 bytes.
	w := int64(12 * 1024 * 1024 * 2)
	for i, e := range evs[:36] {
		want := "weight"
		if i >= 12 {
			want = "optimizer"
		}
		if tagName(tags, e) != want || e.Size != w {
			t.Fatalf("event %d: %v (%s), want a %s of %d bytes", i, e, tagName(tags, e), want, w)
		}
	}
	acts, imm, grads := trainingSteps(t, evs, tags)
	if len(acts) != 10 {
		t.Fatalf("%d steps, want 10", len(acts))
	}
	var sizes []int64
	for _, e := range evs {
		if e.Op == trace.OpAlloc && tagName(tags, e) == "activation" {
			sizes = append(sizes, e.Size)
		}
	}
	seqs := map[int64]bool{}
	for s := range acts {
		// without checkpointing: one activation per layer, none recomputed
		if acts[s] != 12 || imm[s] != 1 {
			t.Errorf("step %d: %d activations, %d freed at once; want 12, 1", s, acts[s], imm[s])
		}
		size := sizes[12*s]
		if !slices.Equal(sizes[12*s:12*s+12], slices.Repeat([]int64{size}, 12)) {
			t.Errorf("step %d: activation sizes differ within the step", s)
		}
		// act_factor 34 · batch 2 · seq · hidden 1024 · 2 bytes / 2
		if size%(34*2*1024) != 0 || size/(34*2*1024) < 128 || size/(34*2*1024) > 1024 {
			t.Errorf("step %d: activation of %d bytes is not 34·2·seq·1024 with seq in [128, 1024]", s, size)
		}
		seqs[size] = true
		var sum int64
		for _, g := range grads[s] {
			sum += g
		}
		if sum != 12*w {
			t.Errorf("step %d: gradients of %d bytes, want %d", s, sum, 12*w)
		}
	}
	if len(seqs) < 2 {
		t.Error("sequence length never varies")
	}
	// Everything of a step is freed before the next one begins: at most 12
	// activations and the buckets live at once besides the persistent 36.
}

func TestTrainingCheckpointingAndBuckets(t *testing.T) {
	for _, k := range []int{1, 2, 3, 5} {
		ps := map[string]string{"steps": "3", "layers": "12", "hidden": "512", "seq_min": "256", "seq_max": "256",
			"checkpointing": "true", "checkpoint_every": strconv.Itoa(k), "bucket_mb": "25"}
		evs, tags := genOK(t, "training", ps, 1)
		acts, imm, grads := trainingSteps(t, evs, tags)
		kept := (12 + k - 1) / k // layers 0, k, 2k, …
		recomputed := 12 - kept
		lastKept := 0
		if 11%k == 0 {
			lastKept = 1
		}
		if len(acts) != 3 {
			t.Fatalf("k=%d: %d steps", k, len(acts))
		}
		for s := range acts {
			if acts[s] != kept+recomputed || imm[s] != recomputed+lastKept {
				t.Errorf("k=%d step %d: %d activations, %d freed at once; want %d kept + %d recomputed", k, s, acts[s], imm[s], kept, recomputed)
			}
			// layer = 12·512²·2 = 6 MiB, so buckets of 25 MiB take 5 layers (30 MiB): 30, 30, 12
			if want := []int64{30 * mib, 30 * mib, 12 * mib}; !slices.Equal(grads[s], want) {
				t.Errorf("k=%d step %d: buckets %v, want %v", k, s, grads[s], want)
			}
		}
		if len(evs) >= 200_000 {
			t.Errorf("%d events", len(evs))
		}
	}
	evs, _ := genOK(t, "training", nil, 1)
	if len(evs) >= 200_000 {
		t.Errorf("defaults: %d events", len(evs))
	}
	for _, c := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"seq_min": "100", "seq_max": "50"}, "[100, 1048576]"},
		{map[string]string{"checkpointing": "yes"}, "false, true"},
		{map[string]string{"checkpoint_every": "25"}, "[1, 24]"},
	} {
		_, _, err := Generate("training", c.params, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.params, err, c.want)
		}
	}
}
