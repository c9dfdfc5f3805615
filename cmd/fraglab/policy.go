package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/policytool"
)

func init() { addCommands(policyCmd) }

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write, build and check policy modules",
		Long: `Write a policy project from a skeleton (new), build it into a WebAssembly
module with its language's toolchain (build), and check a module the way the
host loads it, with a smoke replay (check).`,
		Example: `  fraglab policy new ./mypolicy --lang c
  fraglab policy build ./mypolicy -o mypolicy.wasm
  fraglab policy check mypolicy.wasm
  fraglab replay --trace examples/traces/devlog-small-then-large.jsonl --policy mypolicy.wasm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(policyNewCmd(), policyBuildCmd(), policyCheckCmd())
	return cmd
}

func policyNewCmd() *cobra.Command {
	var lang, name string
	var force bool
	cmd := &cobra.Command{
		Use:   "new DIR --lang " + strings.Join(policytool.Languages(), "|"),
		Short: "Write a skeleton policy project that builds as is",
		Long: `Write a skeleton policy project to DIR: a policy implementing one hook
(policy_round_size, marked "edit this rule") with other hooks as commented
examples, a copy of the language's SDK (so it builds offline, anywhere), a
README with the build command, and the fraglab.policy file that tells
"fraglab policy build" the language. DIR must be new or empty unless --force.

Languages: c (clang), go (Go 1.24+, wasip1), rust (Debian's rustc with the
wasm32 std), assemblyscript (Node.js and npm: the first build installs the
pinned asc), wat (wat2wasm from wabt).`,
		Example: `  fraglab policy new ./mypolicy --lang c
  fraglab policy new ./sizer --lang rust --name sizer
  fraglab policy new ./mypolicy --lang go --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if lang == "" {
				return fmt.Errorf("--lang is required: one of %s", strings.Join(policytool.Languages(), ", "))
			}
			dir := args[0]
			files, err := policytool.New(dir, lang, name, force)
			if err != nil {
				return err
			}
			p, err := policytool.Detect(dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			title := policytool.LangTitle(p.Lang)
			article := "a"
			if strings.ContainsRune("AEIOU", rune(title[0])) {
				article = "an"
			}
			fmt.Fprintf(w, "wrote %s %s policy skeleton %q to %s:\n", article, title, p.Name, dir)
			for _, f := range files {
				if strings.HasPrefix(f, "fraglab-sdk/") {
					continue
				}
				fmt.Fprintf(w, "  %s\n", f)
			}
			if p.Lang == policytool.Go {
				fmt.Fprintf(w, "  fraglab-sdk/ (a copy of the Go SDK)\n")
			}
			out := filepath.Join(dir, p.Name+".wasm")
			fmt.Fprintf(w, "\nnext:\n")
			if p.Lang == policytool.AssemblyScript {
				fmt.Fprintf(w, "  fraglab policy build %s -o %s   # runs npm ci first, for the pinned compiler\n", dir, out)
			} else {
				fmt.Fprintf(w, "  fraglab policy build %s -o %s\n", dir, out)
			}
			fmt.Fprintf(w, "  fraglab policy check %s\n", out)
			fmt.Fprintf(w, "  fraglab replay --trace examples/traces/devlog-small-then-large.jsonl --policy %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&lang, "lang", "", "language: "+strings.Join(policytool.Languages(), ", "))
	f.StringVar(&name, "name", "", "project name: module, package and output names (default: DIR's base name)")
	f.BoolVar(&force, "force", false, "write into a non-empty DIR, overwriting the skeleton's files")
	return cmd
}

func policyBuildCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "build DIR [-o FILE.wasm]",
		Short: "Build a policy project into a WebAssembly module",
		Long: `Build the policy project in DIR: find its language (from fraglab.policy, else
from its file names: policy.c, go.mod with main.go, a .rs file, package.json
with assembly/, a .wat file) and run the commands its SDK's README documents.
Each command is printed ("$ ...") as it starts. An AssemblyScript project
whose node_modules lacks the compiler gets it first: "npm ci" (npm install
without a package-lock.json) where its package.json lies, from npm's
registry or its cache. A missing toolchain is an error naming what to
install; a failing tool shows its output. The module is written only when
the build succeeds.

Rust uses /usr/bin/rustc (Debian's, with the wasm32 standard library);
FRAGLAB_RUSTC names another rustc.`,
		Example: `  fraglab policy build ./mypolicy -o mypolicy.wasm
  fraglab policy build ./mypolicy            # writes ./mypolicy/<name>.wasm`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			res, err := policytool.BuildWith(cmd.Context(), args[0], out, policytool.BuildOptions{Log: w})
			if err != nil {
				return err
			}
			if s := strings.TrimSpace(res.Output); s != "" {
				fmt.Fprintln(w, s)
			}
			fmt.Fprintf(w, "built %s (%s policy, %d bytes) in %s\n", res.Out, res.Project.Lang, res.Size, res.Elapsed.Round(1e6))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the module to write (default DIR/<name>.wasm)")
	return cmd
}

func policyCheckCmd() *cobra.Command {
	var params []string
	var asJSON bool
	var events int
	cmd := &cobra.Command{
		Use:   "check FILE.wasm|BUILTIN [--param key=value ...]",
		Short: "Check a policy module as the host loads it, and smoke-replay it",
		Long: `Check a policy module: print its ABI version, the hooks it exports with their
signatures (and which the host calls after policy_init), its imports and
whether the host allows each, and every reason the host would refuse it.
If the host accepts it, replay a few thousand synthetic events through it on
the simulated device, with the allocator's invariants checked after every
event: once on an unlimited device, once on a device small enough to force
OOMs; print the metrics, or the policy's error. A built-in policy's name
(fraglab policies) checks the built-in.

Exit status 1 on any problem.`,
		Example: `  fraglab policy check mypolicy.wasm
  fraglab policy check mypolicy.wasm --param round_kib=8 --json
  fraglab policy check pytorch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := parseParams(params)
			if err != nil {
				return err
			}
			opts := policytool.CheckOptions{Params: ps, Events: events}
			var rep *policytool.Report
			if _, serr := os.Stat(args[0]); serr != nil && !strings.ContainsRune(args[0], os.PathSeparator) {
				if bin, ok := policies.Builtin(args[0]); ok {
					rep = policytool.CheckBytes(cmd.Context(), args[0], bin, opts)
				}
			}
			if rep == nil {
				if rep, err = policytool.Check(cmd.Context(), args[0], opts); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.WriteText(cmd.OutOrStdout())
			}
			if !rep.OK() {
				if asJSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "fraglab: %s: %d problem(s)\n", args[0], len(rep.Problems))
				}
				return exitError{1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&params, "param", nil, "policy parameter key=value (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.IntVar(&events, "events", policytool.DefaultSmokeEvents, "synthetic events per smoke replay")
	atLeast(f, "1", "events")
	return cmd
}
