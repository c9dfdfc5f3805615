package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/sdk/abi"
)

func init() { addCommands(policiesCmd) }

func policiesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policies",
		Short: "List the built-in policies and the hooks each implements (offline: the policy plans, ABI 1.5)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range policies.Names() {
				bin, _ := policies.Builtin(name)
				m, err := wasm.Compile(cmd.Context(), name, bin)
				if err != nil {
					return err
				}
				names, offline, err := implementedHooks(cmd, m)
				if err != nil {
					return err
				}
				hooks := strings.Join(names, " ")
				if hooks == "" {
					hooks = "(none: host defaults)"
				}
				if offline {
					hooks += "  (offline)"
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
// offline reports whether the module plans (implements policy_plan, ABI
// 1.5, sdk/ABI.md §3.8): it sees the whole workload first.
func implementedHooks(cmd *cobra.Command, m *wasm.Module) (names []string, offline bool, err error) {
	in, err := m.Instantiate(cmd.Context(), wasm.Config{Device: cudadriver.NewSim(cudadriver.SimOptions{}).Info()})
	if err != nil {
		return nil, false, err
	}
	defer in.Close()
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		var used bool
		switch h {
		case abi.HookInit:
			used = true
		case abi.HookScratch:
			used = in.Implements(abi.HookPickBlock) || in.Implements(abi.HookPlan)
		default:
			used = in.Implements(h)
		}
		if m.Hooks[h] && used {
			names = append(names, h.String())
		}
	}
	return names, m.Hooks[abi.HookPlan] && in.Implements(abi.HookPlan), nil
}
