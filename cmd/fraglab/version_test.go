package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/sdk/abi"
)

// fakeBuildInfo makes buildInfo answer bi for the rest of the test.
func fakeBuildInfo(t *testing.T, bi *debug.BuildInfo) {
	t.Helper()
	old := buildInfo
	buildInfo = func() (*debug.BuildInfo, bool) { return bi, bi != nil }
	t.Cleanup(func() { buildInfo = old })
}

func TestVersion(t *testing.T) {
	fakeBuildInfo(t, &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/fraglab/fraglab", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-07T23:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	})
	want := "fraglab v0.3.0\n" +
		"commit  0123456789abcdef0123456789abcdef01234567 (2026-12-07T23:00:00Z) modified\n" +
		"go      go1.26.0\n" +
		"abi     1.0 1.1 1.2 1.3 1.4 1.5 (policy ABI v1: modules declaring 1.0 to 1.5 load)\n"
	if abi.Major != 1 || abi.Minor != 5 {
		t.Fatalf("the host speaks ABI %d.%d: update this test's expected ABI line", abi.Major, abi.Minor)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := fraglab(t, args...)
		if err != nil {
			t.Fatalf("fraglab %s: %v", args[0], err)
		}
		if out != want {
			t.Errorf("fraglab %s:\n%s\nwant:\n%s", args[0], out, want)
		}
	}
	if _, err := fraglab(t, "version", "extra"); err == nil {
		t.Error("fraglab version extra: no error")
	}
}

func TestVersionUnmodifiedAndPseudo(t *testing.T) {
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		want []string
	}{
		{"clean checkout", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			[]string{"fraglab (devel)\n", "commit  abc\n", "go      go1.26.1\n"}},
		{"go install of a pseudo-version", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.0.0-20261207230000-e553f42abcde"}},
			[]string{"fraglab v0.0.0-20261207230000-e553f42abcde\n", "commit  e553f42abcde (from the pseudo-version)\n"}},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.2.0"}},
			[]string{"fraglab v1.2.0\n", "commit  unknown (no VCS information"}},
		{"no build info", nil, []string{"fraglab unknown\n", "commit  unknown\n", "go      go1."}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeBuildInfo(t, c.bi)
			out, err := fraglab(t, "version")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "modified") {
				t.Errorf("says modified:\n%s", out)
			}
		})
	}
}

// The real binary's build info: whatever it holds, the output has the four
// lines and the ABI versions.
func TestVersionOfThisBinary(t *testing.T) {
	out, err := fraglab(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "fraglab ") || !strings.HasPrefix(lines[1], "commit  ") ||
		!strings.HasPrefix(lines[2], "go      go") || !strings.HasPrefix(lines[3], "abi     1.0 ") {
		t.Errorf("fraglab version:\n%s", out)
	}
}
