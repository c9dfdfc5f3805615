package cudadriver

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in   string
		want Selector
		err  bool
	}{
		{"sim", Selector{Kind: "sim"}, false},
		{"auto", Selector{Kind: "auto"}, false},
		{"cuda", Selector{Kind: "cuda"}, false},
		{"cuda:3", Selector{Kind: "cuda", Index: 3}, false},
		{"cuda:-1", Selector{}, true},
		{"cuda:x", Selector{}, true},
		{"gpu", Selector{}, true},
		{"", Selector{}, true},
	}
	for _, tc := range tests {
		got, err := ParseSelector(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSelector(%q) = %+v, %v", tc.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "expected sim, cuda, cuda:N (N ≥ 0) or auto") {
			t.Errorf("error %q does not say what is expected", err)
		}
	}
	if s := (Selector{Kind: "cuda"}).String(); s != "cuda:0" {
		t.Errorf("String = %q", s)
	}
}

func TestOpenWithoutGPU(t *testing.T) {
	if _, err := CUDADeviceCount(); err == nil {
		t.Skip("a CUDA driver is present: this test is for machines without one")
	}
	dev, note, err := Open(Selector{Kind: "auto"}, OpenOptions{Capacity: 64 * MiB})
	if err != nil {
		t.Fatal(err)
	}
	if dev.Info().Backend != "sim" || dev.Info().Capacity != 64*MiB || !strings.HasPrefix(note, "device auto: sim (no CUDA driver: ") {
		t.Errorf("auto opened %+v, note %q", dev.Info(), note)
	}
	for _, s := range []string{"cuda", "cuda:1"} {
		sel, _ := ParseSelector(s)
		_, _, err := Open(sel, OpenOptions{})
		if !errors.Is(err, ErrNoDriver) || !strings.HasPrefix(err.Error(), "no CUDA driver: ") {
			t.Errorf("%s: %v, want a \"no CUDA driver: ...\" error", s, err)
		}
	}
	d := Describe(dev, Selector{Kind: "auto"}, nil, note)
	if d.Selector != "auto" || d.Backend != "sim" || d.GPU != nil || d.Note != note {
		t.Errorf("description %+v", d)
	}
}
