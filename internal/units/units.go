// Package units parses and prints byte sizes.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var suffixes = []struct {
	name string
	mult int64
}{
	{"tib", 1 << 40}, {"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
	{"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10},
	{"b", 1}, {"", 1},
}

// ParseSize parses a size in bytes: a plain integer ("1048576") or a number
// with a binary unit ("512MiB", "1.5GiB", "80G"; units are powers of 1024,
// case-insensitive). The result must be a whole number of bytes.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, suf := range suffixes {
		if !strings.HasSuffix(t, suf.name) {
			continue
		}
		num := strings.TrimSpace(strings.TrimSuffix(t, suf.name))
		if num == "" {
			break
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			if n < 0 || (n > 0 && suf.mult > math.MaxInt64/n) {
				return 0, fmt.Errorf("size %q is out of range", s)
			}
			return n * suf.mult, nil
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			break
		}
		b := f * float64(suf.mult)
		if b != math.Trunc(b) || b > math.MaxInt64 {
			return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
		}
		return int64(b), nil
	}
	return 0, fmt.Errorf("invalid size %q: expected bytes or a number with KiB, MiB, GiB or TiB (e.g. 80GiB)", s)
}

// Format prints bytes with a binary unit, e.g. "256.0 MiB".
func Format(n int64) string {
	neg := n < 0
	v := float64(n)
	if neg {
		v = -v
	}
	unit := "B"
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v /= 1024
		unit = u
	}
	sign := ""
	if neg {
		sign = "-"
	}
	if unit == "B" {
		return fmt.Sprintf("%s%d B", sign, int64(v))
	}
	return fmt.Sprintf("%s%.1f %s", sign, v, unit)
}
