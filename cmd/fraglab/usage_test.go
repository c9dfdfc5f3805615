package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageFlags returns the flags named in a synopsis ("--name" or "-o"), each
// with whether it is shown as required (outside [brackets]).
func usageFlags(synopsis string) map[string]bool {
	out := map[string]bool{}
	depth := 0
	for _, tok := range strings.Fields(synopsis) {
		depth += strings.Count(tok, "[")
		for _, part := range strings.Split(tok, "|") {
			part = strings.Trim(part, "[]")
			if name := strings.TrimLeft(part, "-"); name != part && name != "" && !strings.HasPrefix(name, ".") {
				out[name] = depth == 0
			}
		}
		depth -= strings.Count(tok, "]")
	}
	return out
}

func TestUsageFlags(t *testing.T) {
	got := usageFlags("gen KIND [--param key=value ...] [--seed N] -o FILE [--gpu | --gpus G] [--experiment|-e EXP] DIR...")
	want := map[string]bool{"param": false, "seed": false, "o": true, "gpu": false, "gpus": false, "experiment": false, "e": false}
	if len(got) != len(want) {
		t.Errorf("usageFlags: %v, want %v", got, want)
	}
	for k, v := range want {
		if r, ok := got[k]; !ok || r != v {
			t.Errorf("usageFlags: %v, want %v", got, want)
		}
	}
}

// A flag a Use: line shows as required (outside [brackets]) is one: marked
// required, or a string without a default that the command insists on. A
// flag with a default is optional and shown in brackets. docs/cli.md's
// synopses agree.
func TestUsageShowsOptionalFlagsInBrackets(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() {
			return
		}
		use := usageFlags(c.Use)
		for name, required := range use {
			f := lookupFlag(c, name)
			if f == nil {
				t.Errorf("%s: Use %q names --%s, which is not a flag", c.CommandPath(), c.Use, name)
				continue
			}
			if required && !isRequired(f) {
				t.Errorf("%s: Use %q shows --%s as required, but it is optional (default %q): put it in [brackets]", c.CommandPath(), c.Use, f.Name, f.DefValue)
			}
		}
		line := docSynopsis(string(doc), c.CommandPath())
		if line == "" || c.HasSubCommands() { // a subcommand's line would match
			return
		}
		for name, required := range usageFlags(line) {
			if r, ok := use[name]; ok && r != required {
				t.Errorf("%s: docs/cli.md %q and Use %q disagree on whether -%s is required", c.CommandPath(), line, c.Use, name)
			}
			f := lookupFlag(c, name)
			if f == nil {
				t.Errorf("%s: docs/cli.md %q names -%s, which is not a flag", c.CommandPath(), line, name)
			} else if required && !isRequired(f) {
				t.Errorf("%s: docs/cli.md %q shows -%s as required, but it is optional (default %q)", c.CommandPath(), line, name, f.DefValue)
			}
		}
	}
	walk(newRoot())
}

// lookupFlag finds the flag of c by name or one-letter shorthand.
func lookupFlag(c *cobra.Command, name string) *pflag.Flag {
	if len(name) == 1 {
		return c.Flags().ShorthandLookup(name)
	}
	return c.Flags().Lookup(name)
}

// isRequired reports whether f is marked required or is a string flag
// without a default (one the command checks it was given).
func isRequired(f *pflag.Flag) bool {
	if _, ok := f.Annotations[cobra.BashCompOneRequiredFlag]; ok {
		return true
	}
	return f.Value.Type() == "string" && f.DefValue == ""
}

// docSynopsis returns the first line of doc that starts with path and an
// argument or flag, or "".
func docSynopsis(doc, path string) string {
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, path+" ") {
			return strings.TrimPrefix(l, path)
		}
	}
	return ""
}
