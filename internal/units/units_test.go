package units

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"512MiB", 512 << 20}, {"512mib", 512 << 20},
		{"80GiB", 80 << 30}, {"80G", 80 << 30}, {"1.5GiB", 3 << 29}, {"4KiB", 4096}, {"2 MiB", 2 << 20}, {"100B", 100},
	}
	for _, c := range good {
		got, err := ParseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []struct {
		in   string
		want string // in the error, besides "invalid size", the input and the expected syntax
	}{
		{"", "invalid size"},
		{"abc", "invalid size"},
		{"GiB", "invalid size"},
		{"12XB", "invalid size"},
		{"-1", "must not be negative"},
		{"-1GiB", "must not be negative"},
		{"-0.5MiB", "must not be negative"},
		{"1.3B", "not a whole number of bytes"},
		{"99999999999TiB", "out of range, at most 9223372036854775807 bytes"},
		{"8388608.0TiB", "out of range"},
		{"1e30GiB", "out of range"},
	}
	for _, c := range bad {
		got, err := ParseSize(c.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", c.in, got)
			continue
		}
		msg := err.Error()
		for _, part := range []string{"invalid size " + strconv.Quote(c.in), c.want, "expected bytes or a number with KiB, MiB, GiB or TiB (e.g. 80GiB)"} {
			if !strings.Contains(msg, part) {
				t.Errorf("ParseSize(%q) error %q does not contain %q", c.in, msg, part)
			}
		}
	}
}

func TestFormat(t *testing.T) {
	cases := map[int64]string{0: "0 B", 512: "512 B", 1 << 20: "1.0 MiB", 256 << 20: "256.0 MiB", 3 << 29: "1.5 GiB", -(2 << 20): "-2.0 MiB"}
	for in, want := range cases {
		if got := Format(in); got != want {
			t.Errorf("Format(%d) = %q, want %q", in, got, want)
		}
	}
}
