// Package units parses and prints byte sizes.
package units

import (
	"errors"
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

// expected describes the accepted syntax; every ParseSize error ends with it.
const expected = "expected bytes or a number with KiB, MiB, GiB or TiB (e.g. 80GiB)"

// ParseSize parses a size in bytes: a plain integer ("1048576") or a number
// with a binary unit ("512MiB", "1.5GiB", "80G"; units are powers of 1024,
// case-insensitive). The result must be a whole, non-negative number of bytes.
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
			if n < 0 {
				return 0, negativeError(s)
			}
			if n > 0 && suf.mult > math.MaxInt64/n {
				return 0, tooLargeError(s)
			}
			return n * suf.mult, nil
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			break
		}
		if f < 0 {
			return 0, negativeError(s)
		}
		b := f * float64(suf.mult)
		if b >= math.MaxInt64 {
			return 0, tooLargeError(s)
		}
		if b != math.Trunc(b) {
			return 0, fmt.Errorf("invalid size %q: not a whole number of bytes; %s", s, expected)
		}
		return int64(b), nil
	}
	return 0, fmt.Errorf("invalid size %q: %s", s, expected)
}

// negativeError explains a size below zero.
func negativeError(s string) error {
	return fmt.Errorf("invalid size %q: must not be negative; %s", s, expected)
}

// tooLargeError explains a size past int64.
func tooLargeError(s string) error {
	return fmt.Errorf("invalid size %q: out of range, at most %d bytes (just under 8 EiB); %s", s, int64(math.MaxInt64), expected)
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

// ErrZeroCapacity is the error of a device capacity of 0 bytes: 0 is how
// a device is told "unlimited", so a given 0 must not mean that.
var ErrZeroCapacity = errors.New("a device of 0 bytes holds nothing: expected a positive size, or unlimited")

// ParseCapacity parses a device capacity: a positive SIZE (ParseSize), or
// "unlimited", which is 0. It is the one grammar of capacities: the CLI's
// --capacity and an experiment's device.capacity.
func ParseCapacity(s string) (int64, error) {
	if strings.TrimSpace(s) == "unlimited" {
		return 0, nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, ErrZeroCapacity
	}
	return n, nil
}
