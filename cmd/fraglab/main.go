// Command fraglab is a laboratory for GPU-memory allocation policies: it
// replays workloads through a caching-allocator host whose every decision
// is asked of a sandboxed WebAssembly policy.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit status out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "fraglab",
		Short:         "A laboratory for GPU-memory allocation policies",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Subcommands mark numeric flags with atLeast.
		PersistentPreRunE: checkFlagMins,
		// --version prints what fraglab version does.
		Version: "-",
	}
	root.SetVersionTemplate("{{.Version}}")
	root.Version = versionText()
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

// commands are the subcommands; each file adds its own in an init function
// (cobra lists them sorted by name).
var commands []func() *cobra.Command

// addCommands registers subcommands.
func addCommands(cs ...func() *cobra.Command) { commands = append(commands, cs...) }

func main() {
	if err := newRoot().Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "fraglab:", err)
		os.Exit(1)
	}
}
