package snapshot

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/fraglab/fraglab/internal/yamlnode"
)

// defaultTagRulesYAML is the rule table DefaultTagRules returns.
//
//go:embed tagrules.yaml
var defaultTagRulesYAML []byte

// DefaultTagRulesYAML returns the text of the default rule table, a starting
// point for a --tag-rules file.
func DefaultTagRulesYAML() []byte { return bytes.Clone(defaultTagRulesYAML) }

var parsedDefault = sync.OnceValues(func() ([]TagRule, error) {
	return ParseTagRules(defaultTagRulesYAML, "tagrules.yaml (embedded)")
})

// ruleKeys are the keys of a rule, in the order messages list them.
var ruleKeys = []string{"tag", "file", "names", "name_contains"}

// ParseTagRules parses a rules file: a mapping with one key, rules, a list
// of rules in priority order, each with a tag and at least one of file,
// names and name_contains. Unknown keys are errors. file names the input in
// messages, which give the line at fault.
func ParseTagRules(data []byte, file string) ([]TagRule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: expected \"rules:\" and a list of rules", file)
	}
	top, err := ruleMapping(doc.Content[0], []string{"rules"}, where{file: file}, `"rules:" and a list of rules`)
	if err != nil {
		return nil, err
	}
	list := top["rules"]
	if list == nil || isNull(list) {
		return nil, fmt.Errorf("%s: no rules: expected \"rules:\" and a list of rules", file)
	}
	if list.Kind != yaml.SequenceNode {
		return nil, where{file: file}.errf(list, "rules: expected a list of rules, got %s", yamlnode.Describe(list))
	}
	if len(list.Content) == 0 {
		return nil, fmt.Errorf("%s: no rules: expected \"rules:\" and a list of rules", file)
	}
	rules := make([]TagRule, len(list.Content))
	for i, n := range list.Content {
		r, err := parseRule(yamlnode.Deref(n), where{file: file, rule: i + 1})
		if err != nil {
			return nil, err
		}
		rules[i] = r
	}
	return rules, nil
}

// where places a message in a rules file: the file, and the rule (from 1;
// 0 outside the rules) with its tag when known.
type where struct {
	file string
	rule int
	tag  string
}

// errf returns an error at the line of n.
func (w where) errf(n *yaml.Node, format string, args ...any) error {
	at := fmt.Sprintf("%s: line %d: ", w.file, n.Line)
	if w.rule > 0 {
		at += fmt.Sprintf("rule %d: ", w.rule)
	}
	if w.tag != "" {
		at = strings.TrimSuffix(at, ": ") + fmt.Sprintf(" (tag %s): ", w.tag)
	}
	return errors.New(at + fmt.Sprintf(format, args...))
}

// parseRule parses one rule, at w.
func parseRule(n *yaml.Node, w where) (TagRule, error) {
	fields, err := ruleMapping(n, ruleKeys, w, "a mapping of "+strings.Join(ruleKeys, ", "))
	if err != nil {
		return TagRule{}, err
	}
	var r TagRule
	for _, f := range []struct {
		key string
		to  *string
	}{{"tag", &r.Tag}, {"file", &r.File}, {"name_contains", &r.NameContains}} {
		v := fields[f.key]
		switch {
		case v == nil || isNull(v):
		case v.Kind != yaml.ScalarNode:
			return TagRule{}, w.errf(v, "%s: expected a string, got %s", f.key, yamlnode.Describe(v))
		default:
			*f.to = v.Value
		}
	}
	r.NameContains = strings.ToLower(r.NameContains)
	if strings.TrimSpace(r.Tag) == "" {
		return TagRule{}, w.errf(n, "missing tag: expected a tag name such as activation")
	}
	w.tag = r.Tag
	if names := fields["names"]; names != nil && !isNull(names) {
		if r.Names, err = parseNames(names, w); err != nil {
			return TagRule{}, err
		}
	}
	if r.File == "" && len(r.Names) == 0 && r.NameContains == "" {
		return TagRule{}, w.errf(n, "no condition: expected at least one of file, names, name_contains")
	}
	return r, nil
}

// parseNames parses the names of a rule: a list of function names.
func parseNames(n *yaml.Node, w where) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, w.errf(n, "names: expected a list of function names such as [forward], got %s", yamlnode.Describe(n))
	}
	var names []string
	for _, c := range n.Content {
		c = yamlnode.Deref(c)
		if c.Kind != yaml.ScalarNode {
			return nil, w.errf(c, "names: expected a function name, got %s", yamlnode.Describe(c))
		}
		if c.Value == "" || isNull(c) {
			return nil, w.errf(c, "an empty name in names")
		}
		names = append(names, c.Value)
	}
	return names, nil
}

// ruleMapping returns the values of mapping n by key, refusing keys not in
// known and duplicates; want says what n should be.
func ruleMapping(n *yaml.Node, known []string, w where, want string) (map[string]*yaml.Node, error) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, w.errf(n, "expected %s, got %s", want, yamlnode.Describe(n))
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := yamlnode.Deref(n.Content[i])
		if !slices.Contains(known, k.Value) {
			return nil, w.errf(k, "unknown key %q: expected %s", k.Value, yamlnode.OrList(known))
		}
		if _, dup := out[k.Value]; dup {
			return nil, w.errf(k, "duplicate key %q", k.Value)
		}
		out[k.Value] = yamlnode.Deref(n.Content[i+1])
	}
	return out, nil
}

// isNull reports whether n is a null scalar (empty, ~ or null).
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// LoadTagRules reads a rules file (see ParseTagRules).
func LoadTagRules(path string) ([]TagRule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tag rules: %w", err)
	}
	return ParseTagRules(data, path)
}
