package yamlnode

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestOrList(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a or b"},
		{[]string{"a", "b", "c"}, "a, b or c"},
	} {
		if got := OrList(tc.names); got != tc.want {
			t.Errorf("OrList(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"{a: 1}", "a mapping"},
		{"[1]", "a list"},
		{"~", "nothing"},
		{"3", "the number 3"},
		{"1.5", "the number 1.5"},
		{"true", "the boolean true"},
		{"x", `the string "x"`},
		{"a: &x [1]\nb: *x", "a mapping"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.doc), &doc); err != nil {
			t.Fatal(err)
		}
		if got := Describe(Deref(doc.Content[0])); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.doc, got, tc.want)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: &x [1]\nb: *x"), &doc); err != nil {
		t.Fatal(err)
	}
	if alias := doc.Content[0].Content[3]; Describe(Deref(alias)) != "a list" {
		t.Errorf("Deref did not follow the alias: %s", Describe(Deref(alias)))
	}
}
