package trace

import (
	"testing"

	"github.com/fraglab/fraglab/sdk/abi"
)

func TestTags(t *testing.T) {
	tags := NewTags()
	for name, id := range abi.WellKnownTags {
		if got := tags.ID(name); got != id {
			t.Errorf("ID(%q) = %d, want %d", name, got, id)
		}
		if got, ok := tags.Name(id); !ok || got != name {
			t.Errorf("Name(%d) = %q, %v, want %q", id, got, ok, name)
		}
	}
	steps := []struct {
		name string
		want int32
	}{
		{"", abi.TagUnknown},
		{"moe_router", abi.FirstCustomTag},
		{"activation", abi.TagActivation},
		{"lora", abi.FirstCustomTag + 1},
		{"moe_router", abi.FirstCustomTag},
		{"scratch", abi.FirstCustomTag + 2},
	}
	for _, s := range steps {
		if got := tags.ID(s.name); got != s.want {
			t.Errorf("ID(%q) = %d, want %d", s.name, got, s.want)
		}
	}
	if got := tags.idBytes([]byte("lora")); got != abi.FirstCustomTag+1 {
		t.Errorf("idBytes(lora) = %d, want %d", got, abi.FirstCustomTag+1)
	}
	if name, ok := tags.Name(abi.FirstCustomTag + 1); !ok || name != "lora" {
		t.Errorf("Name(%d) = %q, %v, want lora", abi.FirstCustomTag+1, name, ok)
	}
	for _, id := range []int32{-1, abi.TagWorkspace + 1, abi.FirstCustomTag - 1, abi.FirstCustomTag + 3} {
		if name, ok := tags.Name(id); ok {
			t.Errorf("Name(%d) = %q, true; want no name", id, name)
		}
	}
}
