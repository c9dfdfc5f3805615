package snapshot

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
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

// tagRuleYAML is one rule as written in a rules file.
type tagRuleYAML struct {
	Tag          string   `yaml:"tag"`
	File         string   `yaml:"file"`
	Names        []string `yaml:"names"`
	NameContains string   `yaml:"name_contains"`
}

// ParseTagRules parses a rules file: a mapping with one key, rules, a list
// of rules in priority order, each with a tag and at least one of file,
// names and name_contains. Unknown keys are errors. file names the input in
// messages, which give the line of the rule at fault.
func ParseTagRules(data []byte, file string) ([]TagRule, error) {
	var doc struct {
		Rules []tagRuleYAML `yaml:"rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file: expected \"rules:\" and a list of rules", file)
		}
		return nil, fmt.Errorf("%s: %v (expected \"rules:\" and a list of {tag, file, names, name_contains})", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// The same document as nodes, for the line of each rule.
	var nodes struct {
		Rules []yaml.Node `yaml:"rules"`
	}
	if err := yaml.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if len(doc.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules: expected \"rules:\" and a list of rules", file)
	}
	rules := make([]TagRule, len(doc.Rules))
	for i, r := range doc.Rules {
		at := fmt.Sprintf("%s: line %d: rule %d", file, nodes.Rules[i].Line, i+1)
		if strings.TrimSpace(r.Tag) == "" {
			return nil, fmt.Errorf("%s: missing tag: expected a tag name such as activation", at)
		}
		if r.File == "" && len(r.Names) == 0 && r.NameContains == "" {
			return nil, fmt.Errorf("%s (tag %s): no condition: expected at least one of file, names, name_contains", at, r.Tag)
		}
		for _, n := range r.Names {
			if n == "" {
				return nil, fmt.Errorf("%s (tag %s): an empty name in names", at, r.Tag)
			}
		}
		rules[i] = TagRule{Tag: r.Tag, File: r.File, Names: r.Names, NameContains: strings.ToLower(r.NameContains)}
	}
	return rules, nil
}

// LoadTagRules reads a rules file (see ParseTagRules).
func LoadTagRules(path string) ([]TagRule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tag rules: %w", err)
	}
	return ParseTagRules(data, path)
}
