package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayMap(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in the SVG
	}{
		{"the first OOM by default", []string{"--trace", oomFragmented, "--capacity", "40MiB"},
			[]string{`data-event="4"`, "(the first OOM)", "failed request 14.0 MiB", "largest free block 12.0 MiB", `data-segments="2"`}},
		{"the first OOM with --explain-ooms 0", []string{"--trace", oomFragmented, "--capacity", "40MiB", "--explain-ooms", "0", "--map-at", "first-oom"},
			[]string{`data-event="4"`, "failed request 14.0 MiB"}},
		{"the peak without an OOM", []string{"--trace", oomFragmented},
			[]string{`data-event="5"`, "(peak reserved)"}},
		{"peak asked", []string{"--trace", oomFragmented, "--capacity", "40MiB", "--map-at", "peak"},
			[]string{`data-event="2"`, "(peak reserved)"}},
		{"an event", []string{"--trace", oomFragmented, "--map-at", "3"},
			[]string{`data-event="3"`, "free 8.0 MiB"}},
		{"private pools", []string{"--trace", "../../examples/traces/graph-pools.jsonl", "--map-at", "peak"},
			[]string{"(peak reserved)", "of private pool"}},
		{"expandable segments", []string{"--trace", oomFragmented, "--capacity", "40MiB", "--param", "expandable_segments=true", "--map-at", "3"},
			[]string{`data-event="3"`, "expandable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var svgs [][]byte
			for range 2 {
				path := filepath.Join(t.TempDir(), "map.svg")
				if _, err := fraglab(t, append([]string{"replay", "--map", path}, tc.args...)...); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				svgs = append(svgs, b)
			}
			if !bytes.Equal(svgs[0], svgs[1]) {
				t.Error("two replays drew different pictures")
			}
			svg := string(svgs[0])
			if !strings.HasPrefix(svg, `<svg class="segmap"`) {
				t.Fatalf("not a segment map: %.200s", svg)
			}
			for _, w := range tc.want {
				if !strings.Contains(svg, w) {
					t.Errorf("picture lacks %q", w)
				}
			}
		})
	}
}

func TestReplayMapErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "map.svg")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--map", out, "--map-at", "999999"}, "--map-at 999999: past the trace's end: it has 6 events (0 to 5)"},
		{[]string{"--map", out, "--map-at", "first-oom"}, "--map-at first-oom: the run had no OOM (6 events); try --map-at peak or an event index"},
		{[]string{"--map", out, "--map-at", "middle"}, `--map-at "middle": expected first-oom, peak or an event index (0 or more)`},
		{[]string{"--map", out, "--map-at", "-3"}, `--map-at "-3": expected first-oom, peak or an event index (0 or more)`},
		{[]string{"--map-at", "peak"}, "--map-at peak needs --map FILE.svg"},
		{[]string{"--map", filepath.Join(t.TempDir(), "no", "such", "dir", "m.svg")}, "--map: "},
	}
	for _, tc := range tests {
		_, err := fraglab(t, append([]string{"replay", "--trace", oomFragmented}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed --map wrote a picture")
	}
}

func TestReplayMapKeepsJSONClean(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map.svg")
	out, err := fraglab(t, "replay", "--trace", oomFragmented, "--capacity", "40MiB", "--json", "--map", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "{") || strings.Count(out, "\n") != 1 {
		t.Errorf("--json with --map printed more than the metrics:\n%s", out)
	}
}
