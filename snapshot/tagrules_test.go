package snapshot

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/sdk/abi"
)

func TestDefaultTagRulesParse(t *testing.T) {
	rules, err := ParseTagRules(DefaultTagRulesYAML(), "tagrules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 6 {
		t.Fatalf("%d default rules, want one or more for each of the 6 well-known categories", len(rules))
	}
	seen := map[string]bool{}
	for _, r := range rules {
		// Tag-aware policies (lifetime-aware) and the generators know the
		// well-known names only.
		if _, ok := abi.WellKnownTags[r.Tag]; !ok || r.Tag == "unknown" {
			t.Errorf("default rule tags %q, which is not a well-known tag", r.Tag)
		}
		seen[r.Tag] = true
	}
	for name, id := range abi.WellKnownTags {
		if id != abi.TagUnknown && !seen[name] {
			t.Errorf("no default rule produces the well-known tag %q", name)
		}
	}
	if !reflect.DeepEqual(DefaultTagRules(), rules) {
		t.Error("DefaultTagRules() differs from the embedded file")
	}
}

func TestLoadTagRules(t *testing.T) {
	rules, err := LoadTagRules(filepath.Join("testdata", "tagrules", "custom.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f := func(file, name string) Frame { return Frame{Filename: file, Name: name} }
	cases := []struct {
		frames []Frame
		want   string
	}{
		{[]Frame{f("modeling_llama.py", "repeat_kv"), f("m.py", "forward")}, "kv_cache"}, // name_contains ignores case
		{[]Frame{f("x/attention.py", "forward")}, "kv_cache"},
		{[]Frame{f("x/router.py", "route"), f("m.py", "forward")}, "moe_router"},
		{[]Frame{f("m.py", "forward")}, "activation"},
		{[]Frame{f("/x/torch/optim/adamw.py", "step")}, "unknown"}, // the defaults no longer apply
	}
	for _, c := range cases {
		if got := Classify(c.frames, rules); got != c.want {
			t.Errorf("Classify(%v) = %s, want %s", c.frames, got, c.want)
		}
	}
}

func TestLoadTagRulesErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"unknown-key.yaml", `: line 4: rule 1: unknown key "regex": expected tag, file, names or name_contains`},
		{"unknown-top-key.yaml", `: line 1: unknown key "rule": expected rules`},
		{"duplicate-key.yaml", `: line 4: rule 1: duplicate key "file"`},
		{"missing-tag.yaml", ": line 2: rule 1: missing tag"},
		{"no-condition.yaml", ": line 4: rule 2 (tag activation): no condition: expected at least one of file, names, name_contains"},
		{"empty.yaml", `: empty file: expected "rules:"`},
		{"not-a-list.yaml", `: line 1: rules: expected a list of rules, got the string "weight"`},
		{"rule-not-mapping.yaml", `: line 4: rule 2: expected a mapping of tag, file, names, name_contains, got the string "activation"`},
		{"tag-not-string.yaml", `: line 2: rule 1: tag: expected a string, got a list`},
		{"names-not-list.yaml", `: line 3: rule 1 (tag weight): names: expected a list of function names such as [forward], got the string "a.py"`},
		{"empty-name.yaml", `: line 3: rule 1 (tag weight): an empty name in names`},
		{"no-rules.yaml", ": no rules"},
		{"missing.yaml", "no such file"},
	}
	for _, tt := range tests {
		path := filepath.Join("testdata", "tagrules", tt.file)
		_, err := LoadTagRules(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadTagRules(%s): error %v, want it to contain %q", tt.file, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
		if err != nil && strings.HasPrefix(tt.want, ":") && !strings.HasPrefix(err.Error(), path+tt.want) {
			t.Errorf("error %q does not start with %s%s", err, path, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "snapshot.") || strings.Contains(err.Error(), "in type")) {
			t.Errorf("error %q names a Go type", err)
		}
	}
}
