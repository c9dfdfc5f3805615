package units

import "testing"

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
	for _, in := range []string{"", "abc", "-1", "1.3B", "GiB", "12XB", "99999999999TiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
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
