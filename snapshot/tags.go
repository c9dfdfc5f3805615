package snapshot

import (
	"math/bits"
	"strings"
)

// TagRule maps allocations whose stack has a matching frame to a tag. A frame
// matches when every condition that is set holds; a rule with no condition
// matches nothing.
type TagRule struct {
	Tag          string   // the tag name (abi.WellKnownTags or a custom one)
	File         string   // a substring of Frame.Filename
	Names        []string // Frame.Name is one of these
	NameContains string   // a substring of Frame.Name, ignoring case
}

// matches reports whether f satisfies every condition of r.
func (r *TagRule) matches(f *Frame) bool {
	if r.File == "" && len(r.Names) == 0 && r.NameContains == "" {
		return false
	}
	if r.File != "" && !strings.Contains(f.Filename, r.File) {
		return false
	}
	if len(r.Names) > 0 {
		ok := false
		for _, n := range r.Names {
			if f.Name == n {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if r.NameContains != "" && !containsFold(f.Name, r.NameContains) {
		return false
	}
	return true
}

// containsFold reports whether s contains the lower-case substr, ignoring
// the case of s.
func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), substr)
}

// DefaultTagRules returns the rule table Workload uses, in priority order,
// parsed from the embedded tagrules.yaml (DefaultTagRulesYAML): the first
// rule with a matching frame anywhere in an allocation's stack names its
// tag; an allocation no rule matches (or without frames) is "unknown". The
// table is deliberately small: stacks say where an allocation was made, not
// what it holds, so these tags are a hint.
//
//	workspace   a frame name containing "workspace" (cuBLAS/cuBLASLt/cuDNN workspaces)
//	optimizer   any frame in torch/optim/; step, _init_group or zero_grad in a
//	            file whose path contains "optim"; a name containing "exp_avg"
//	gradient    backward or _engine_run_backward (Python), or the C++ autograd
//	            engine (a name containing "autograd::engine")
//	kv_cache    a name containing "kv_cache", "kvcache" or "past_key_value";
//	            any frame in cache_utils.py (Hugging Face caches)
//	weight      _apply, convert, to, cuda, load_state_dict or
//	            _load_from_state_dict in nn/modules/module.py; a module's
//	            __init__ in nn/modules/ (parameters made on the device); a
//	            name containing "parameter" (reset_parameters, …)
//	activation  forward, _call_impl or _wrapped_call_impl (module calls)
func DefaultTagRules() []TagRule {
	rules, err := parsedDefault()
	if err != nil {
		panic("snapshot: the embedded tag rules do not parse: " + err.Error()) // a build defect; TestDefaultTagRulesParse catches it
	}
	return append([]TagRule(nil), rules...)
}

// Classify returns the tag of an allocation made with frames under rules,
// or "unknown".
func Classify(frames []Frame, rules []TagRule) string {
	for r := range rules {
		for f := range frames {
			if rules[r].matches(&frames[f]) {
				return rules[r].Tag
			}
		}
	}
	return "unknown"
}

// tagger is Classify with two caches: the rules each distinct frame matches
// (a trace has a few hundred distinct frames among hundreds of thousands),
// and the tag of each frames slice (PyTorch's files share one frame list
// among many entries, and Read keeps that sharing).
type tagger struct {
	rules []TagRule
	masks map[Frame]uint64
	lists map[tagKey]string
}

// tagKey identifies a frames slice.
type tagKey struct {
	first *Frame
	n     int
}

func newTagger(rules []TagRule) *tagger {
	return &tagger{rules: rules, masks: map[Frame]uint64{}, lists: map[tagKey]string{}}
}

func (t *tagger) tag(frames []Frame) string {
	if len(frames) == 0 {
		return "unknown"
	}
	if len(t.rules) > 64 {
		return Classify(frames, t.rules)
	}
	k := tagKey{&frames[0], len(frames)}
	if tag, ok := t.lists[k]; ok {
		return tag
	}
	var all uint64
	for i := range frames {
		m, ok := t.masks[frames[i]]
		if !ok {
			for r := range t.rules {
				if t.rules[r].matches(&frames[i]) {
					m |= 1 << r
				}
			}
			t.masks[frames[i]] = m
		}
		all |= m
	}
	tag := "unknown"
	if all != 0 {
		tag = t.rules[bits.TrailingZeros64(all)].Tag
	}
	t.lists[k] = tag
	return tag
}
