package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/abi"
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
				names, err := implementedHooks(cmd, m)
				if err != nil {
					return err
				}
				hooks := strings.Join(names, " ")
				if hooks == "" {
					hooks = "(none: host defaults)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-22s ABI %d.%d  %6d bytes  hooks: %s\n", name, m.Major, m.Minor, len(bin), hooks)
			}
			return nil
		},
	}
}

// implementedHooks lists the hooks a module really implements, in ABI
// order: the exported ones, less those its hook mask (ABI 1.1, config key
// 2) leaves to the host, as SDK modules that export every hook do. It
// starts the module with its default parameters to read the mask.
func implementedHooks(cmd *cobra.Command, m *wasm.Module) ([]string, error) {
	in, err := m.Instantiate(cmd.Context(), wasm.Config{Device: cudadriver.NewSim(cudadriver.SimOptions{}).Info()})
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var out []string
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		var used bool
		switch h {
		case abi.HookInit:
			used = true
		case abi.HookScratch:
			used = in.Implements(abi.HookPickBlock)
		default:
			used = in.Implements(h)
		}
		if m.Hooks[h] && used {
			out = append(out, h.String())
		}
	}
	return out, nil
}
