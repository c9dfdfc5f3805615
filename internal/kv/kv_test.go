package kv

import "testing"

func TestFormat(t *testing.T) {
	if got := Format(map[string]string{"b": "2", "a": "1"}, ","); got != "a=1,b=2" {
		t.Errorf("Format = %q", got)
	}
	if got := Format(nil, " "); got != "" {
		t.Errorf("Format(nil) = %q", got)
	}
}
