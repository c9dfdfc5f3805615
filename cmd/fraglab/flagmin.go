package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// minAnnotation is the flag annotation that holds a numeric flag's least
// accepted value (an integer, or a Go duration for a duration flag).
const minAnnotation = "fraglab-min"

// atLeast marks numeric flags whose value, when given, must be at least
// min. Their defaults are often a sentinel (-1: the first device, 0: the
// number of CPUs) that a value given below min would otherwise silently
// fall back to.
func atLeast(f *pflag.FlagSet, min string, names ...string) {
	for _, n := range names {
		if err := f.SetAnnotation(n, minAnnotation, []string{min}); err != nil {
			panic(err) // a misspelt flag name: a programming error
		}
	}
}

// checkFlagMins refuses every flag given on cmd's command line below the
// minimum atLeast set for it.
func checkFlagMins(cmd *cobra.Command, _ []string) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if m, ok := f.Annotations[minAnnotation]; ok && err == nil {
			err = checkFlagMin(f, m[0])
		}
	})
	return err
}

// checkFlagMin checks one given flag against its minimum.
func checkFlagMin(f *pflag.Flag, min string) error {
	v := f.Value.String()
	if f.Value.Type() == "duration" {
		d, _ := time.ParseDuration(v)
		if m, _ := time.ParseDuration(min); d < m {
			if m == time.Nanosecond {
				return fmt.Errorf("--%s %s: expected a positive duration such as 30s", f.Name, v)
			}
			return fmt.Errorf("--%s %s: expected a duration of at least %s", f.Name, v, min)
		}
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	m, _ := strconv.ParseInt(min, 10, 64)
	if err != nil || n < m {
		return fmt.Errorf("--%s %s: expected an integer ≥ %s", f.Name, v, min)
	}
	return nil
}
