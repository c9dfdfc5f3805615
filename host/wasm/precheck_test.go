package wasm

import (
	"strings"
	"testing"

	"github.com/fraglab/fraglab/policies"
)

func TestPrecheck(t *testing.T) {
	const hdr = "\x00asm\x01\x00\x00\x00"
	for _, c := range []struct {
		name, bin, want string // want: "" for no error, else a part of it
	}{
		{"header only", hdr, ""},
		{"no magic", "\x00wasm\x01\x00\x00", "magic"},
		{"section past the end", hdr + "\x02\x10\x01", "declares 16 bytes, only 1 follow"},
		// 10^9 imports declared in a 6-byte section: wazero would allocate
		// them all before noticing.
		{"huge import count", hdr + "\x02\x06\x80\x94\xeb\xdc\x03\x00", "declares 1000000000 elements in 6 bytes"},
		{"truncated count", hdr + "\x03\x01\x80", "truncated LEB128"},
		{"overlong LEB128", hdr + "\x03\x06\x80\x80\x80\x80\x80\x00", "longer than 5 bytes"},
		{"custom section is not a vector", hdr + "\x00\x03\x7f\x7f\x7f", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := precheck([]byte(c.bin))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("precheck: %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("precheck: %v, want an error containing %q", err, c.want)
			}
		})
	}
	for _, name := range policies.Names() {
		bin, _ := policies.Builtin(name)
		if err := precheck(bin); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
}
