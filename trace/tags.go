package trace

import "github.com/fraglab/fraglab/sdk/abi"

// Tags is a registry of tag names. The well-known names of abi.WellKnownTags
// keep their ids; every other name gets the next id from abi.FirstCustomTag
// on, in order of first appearance. Make one with NewTags; a Tags is not
// safe for concurrent use.
type Tags struct {
	ids   map[string]int32
	names []string // indexed by id; "" where no name has the id
}

// NewTags returns a registry holding the well-known tags only.
func NewTags() *Tags {
	t := &Tags{
		ids:   make(map[string]int32, len(abi.WellKnownTags)),
		names: make([]string, abi.FirstCustomTag),
	}
	for name, id := range abi.WellKnownTags {
		t.ids[name] = id
		t.names[id] = name
	}
	return t
}

// ID returns the id of name, registering name when it is new. The empty name
// is abi.TagUnknown.
func (t *Tags) ID(name string) int32 {
	if id, ok := t.ids[name]; ok {
		return id
	}
	return t.add(name)
}

// idBytes is ID for a name held in a byte slice; it allocates only when the
// name is new.
func (t *Tags) idBytes(name []byte) int32 {
	if id, ok := t.ids[string(name)]; ok {
		return id
	}
	return t.add(string(name))
}

func (t *Tags) add(name string) int32 {
	if name == "" {
		return abi.TagUnknown
	}
	id := int32(len(t.names))
	t.ids[name] = id
	t.names = append(t.names, name)
	return id
}

// Name returns the name of id, and false when no name has that id.
func (t *Tags) Name(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.names) || t.names[id] == "" {
		return "", false
	}
	return t.names[id], true
}
