package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/generate"
	"github.com/fraglab/fraglab/traceconv"
)

func init() { addCommands(traceCmd) }

func traceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "trace",
		Short: "Make and handle workload traces",
	}
	c.AddCommand(traceGenCmd(), traceConvertCmd(), traceStatsCmd())
	return c
}

func traceGenCmd() *cobra.Command {
	var (
		params []string
		seed   int64
		out    string
		list   bool
	)
	c := &cobra.Command{
		Use:   "gen KIND [--param key=value ...] [--seed N] -o FILE",
		Short: "Write a synthetic workload from a generator (see --list)",
		Long: "Writes the events of the generator KIND to FILE in the format its extension names\n" +
			"(.jsonl, .fltr, .csv, each optionally .gz, or .pickle; see trace convert).\n" +
			"The same parameters and seed always give the same trace. --list prints the generators,\n" +
			"their parameters and what they model.",
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			if len(args) != 1 {
				return fmt.Errorf("want one generator KIND (one of %s), got %d arguments", strings.Join(generate.Names(), ", "), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				printGenerators(cmd.OutOrStdout())
				return nil
			}
			if out == "" {
				return errors.New("-o FILE is required")
			}
			kv := map[string]string{}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return fmt.Errorf("--param %q: want KEY=VALUE", p)
				}
				kv[k] = v
			}
			events, tags, err := generate.Generate(args[0], kv, seed)
			if err != nil {
				return err
			}
			rep, err := traceconv.WriteEvents(cmd.Context(), out, "", events, tags)
			if err != nil {
				return err
			}
			printDropped(cmd.ErrOrStderr(), rep)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d events to %s\n", len(events), out)
			return nil
		},
	}
	c.Flags().StringArrayVar(&params, "param", nil, "generator parameter KEY=VALUE (repeatable)")
	c.Flags().Int64Var(&seed, "seed", 0, "random seed")
	c.Flags().StringVarP(&out, "output", "o", "", "output trace file (.jsonl, .fltr, .csv, each optionally .gz, or .pickle)")
	c.Flags().BoolVar(&list, "list", false, "list the generators with their parameters")
	return c
}

func printGenerators(w io.Writer) {
	for i, n := range generate.Names() {
		g, _ := generate.Lookup(n)
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n  %s\n  parameters:\n", g.Name, g.Doc)
		for _, p := range g.Params {
			fmt.Fprintf(w, "    %s (default %s): %s\n", p.Name, p.Default, p.Doc)
		}
	}
}
