package snapshot

import (
	"github.com/fraglab/fraglab/host"
	"reflect"
	"testing"
)

func TestRoundSize(t *testing.T) {
	var div4 [Intervals]int64
	for i := range div4 {
		div4[i] = 4
	}
	cases := []struct {
		n    int64
		div  *[Intervals]int64
		want int64
	}{
		{1, nil, 512},
		{512, nil, 512},
		{513, nil, 1024},
		{1200, &div4, 1536}, // 1200 ≤ 512·4: the division rounding is not used
		{mib + 1, nil, mib + 512},
		{5 * mib, &div4, 5 * mib},     // a multiple of 4 MiB/4
		{5*mib + 1, &div4, 6 * mib},   // up to a multiple of 1 MiB
		{8 * mib, &div4, 8 * mib},     // a power of two stays
		{3000, &div4, 3072},           // 2048 < 3000: floor 2048, step 512
		{3*mib + 1, nil, 3*mib + 512}, // no table
	}
	for _, c := range cases {
		if got := roundSize(c.n, c.div); got != c.want {
			t.Errorf("roundSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	for _, c := range []struct{ s, want int64 }{
		{512, 2 * mib}, {mib, 2 * mib}, {mib + 512, 20 * mib}, {10*mib - 512, 20 * mib}, {10 * mib, 10 * mib}, {10*mib + 512, 12 * mib},
	} {
		if got := host.DefaultSegmentSize(c.s); got != c.want {
			t.Errorf("host.DefaultSegmentSize(%d) = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestSplitRule(t *testing.T) {
	def := newSplitRule(nil)
	if !def.split(2*mib, 512, poolSmall, false) || def.split(512, 512, poolSmall, false) {
		t.Error("small pool: split iff the remainder is ≥ 512")
	}
	if def.split(20*mib, 19*mib+mib/2, poolLarge, false) || !def.split(12*mib, 10*mib+mib/2, poolLarge, false) {
		t.Error("large pool: split iff the remainder is > 1 MiB")
	}
	ms := splitRule{maxSplit: 40 * mib}
	if ms.split(100*mib, 50*mib, poolLarge, false) {
		t.Error("a request at or above max_split_size is never split")
	}
	if ms.usable(60*mib, 30*mib) || !ms.usable(60*mib, 50*mib) || ms.usable(80*mib, 50*mib) {
		t.Error("max_split_size usability rules")
	}
}

func TestSettingsParams(t *testing.T) {
	var nilSettings *Settings
	if p := nilSettings.Params(); len(p) != 0 {
		t.Errorf("nil settings: %v", p)
	}
	if p := DefaultSettings().Params(); len(p) != 0 {
		t.Errorf("defaults: %v", p)
	}
	s := DefaultSettings()
	s.MaxSplitSize = 128 * mib
	s.GarbageCollectionThreshold = 0.6
	s.ExpandableSegments = true
	for i := range s.RoundupPower2Divisions {
		s.RoundupPower2Divisions[i] = 4
	}
	want := map[string]string{"max_split_size_mb": "128", "garbage_collection_threshold": "0.6", "expandable_segments": "True", "roundup_power2_divisions": "4"}
	if p := s.Params(); !reflect.DeepEqual(p, want) {
		t.Errorf("got %v, want %v", p, want)
	}
	s = syntheticSnapshot().Settings
	if got := s.Params()["roundup_power2_divisions"]; got != "[1:4,2:4,4:4,8:4,16:8,32:8,64:8,128:8,256:8,512:8,1024:8,2048:8,4096:8,8192:8,16384:8,32768:8]" {
		t.Errorf("list form %q", got)
	}
}

func TestClassify(t *testing.T) {
	rules := DefaultTagRules()
	f := func(file, name string) Frame { return Frame{Filename: file, Name: name} }
	cases := []struct {
		frames []Frame
		want   string
	}{
		{nil, "unknown"},
		{[]Frame{f("??", "torch::unwind::unwind()"), f("CUDACachingAllocator.cpp", "malloc")}, "unknown"},
		{[]Frame{f("??", "at::cuda::getCUDABlasLtWorkspace()"), f("model.py", "forward")}, "workspace"},
		{[]Frame{f("/x/torch/optim/adamw.py", "_init_group"), f("train.py", "main")}, "optimizer"},
		{[]Frame{f("cs336/optimizer.py", "step")}, "optimizer"},
		{[]Frame{f("??", "torch::autograd::Engine::evaluate_function(...)")}, "gradient"},
		{[]Frame{f("/x/torch/autograd/graph.py", "_engine_run_backward"), f("/x/torch/_tensor.py", "backward")}, "gradient"},
		{[]Frame{f("/x/transformers/cache_utils.py", "update"), f("modeling_llama.py", "forward")}, "kv_cache"},
		{[]Frame{f("/x/torch/nn/modules/module.py", "convert"), f("/x/torch/nn/modules/module.py", "_apply")}, "weight"},
		{[]Frame{f("model.py", "reset_parameters")}, "weight"},
		{[]Frame{f("/x/torch/nn/modules/linear.py", "__init__"), f("train.py", "<module>")}, "weight"},
		{[]Frame{f("??", "at::native::mm"), f("/x/torch/nn/modules/module.py", "_call_impl"), f("model.py", "forward")}, "activation"},
	}
	tg := newTagger(rules)
	for _, c := range cases {
		if got := Classify(c.frames, rules); got != c.want {
			t.Errorf("Classify(%v) = %s, want %s", c.frames, got, c.want)
		}
		if got := tg.tag(c.frames); got != c.want {
			t.Errorf("tagger(%v) = %s, want %s", c.frames, got, c.want)
		}
	}
	if got := Classify([]Frame{f("a", "b")}, []TagRule{{Tag: "empty"}}); got != "unknown" {
		t.Errorf("a rule without conditions matched: %s", got)
	}
}
