package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/policies"
)

func init() { addCommands(policiesCmd) }

func policiesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policies",
		Short: "List the built-in policies and the hooks each implements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range policies.Names() {
				bin, _ := policies.Builtin(name)
				m, err := wasm.Compile(cmd.Context(), name, bin)
				if err != nil {
					return err
				}
				hooks := strings.Join(m.HookNames(), " ")
				if hooks == "" {
					hooks = "(none: host defaults)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-10s ABI %d.%d  %6d bytes  hooks: %s\n", name, m.Major, m.Minor, len(bin), hooks)
			}
			return nil
		},
	}
}
