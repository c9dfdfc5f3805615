package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/sdk/abi"
)

func init() { addCommands(versionCmd) }

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print fraglab's version, commit, Go version and the policy ABI versions it loads",
		Long: `Print the module version (a tag or pseudo-version: from go install, or
from the git clone it was built in, "+dirty" with uncommitted changes;
"(devel)" when the build recorded no VCS information), the commit it was
built from with its time and "modified" when the working tree had
uncommitted changes, the Go version, and the policy ABI versions this host
loads: a module declaring any of them runs with that version's semantics
(sdk/ABI.md §8). "fraglab --version" prints the same.`,
		Example: `  fraglab version
  fraglab --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), versionText())
			return nil
		},
	}
}

// buildInfo is debug.ReadBuildInfo; tests replace it.
var buildInfo = debug.ReadBuildInfo

// abiVersions lists the policy ABI versions the host loads: every minor
// of its major up to the newest it implements (host/wasm refuses a marker
// of another major or a newer minor).
func abiVersions() []string {
	var vs []string
	for m := 0; m <= abi.Minor; m++ {
		vs = append(vs, fmt.Sprintf("%d.%d", abi.Major, m))
	}
	return vs
}

// pseudoRE matches a Go pseudo-version (v0.0.0-20261207233000-abcdef123456,
// vX.Y.Z-pre.0.2026...-hash, vX.Y.(Z+1)-0.2026...-hash), whose last part is
// the commit's 12-digit prefix.
var pseudoRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-(?:.*\.)?(?:0\.)?[0-9]{14}-([0-9a-f]{12})(?:\+incompatible)?$`)

// pseudoCommit returns the commit prefix a pseudo-version names, or "".
func pseudoCommit(version string) string {
	if m := pseudoRE.FindStringSubmatch(version); m != nil {
		return m[1]
	}
	return ""
}

// versionText is what fraglab version and fraglab --version print.
func versionText() string {
	version, commit, goVersion := "unknown", "unknown", runtime.Version()
	if bi, ok := buildInfo(); ok && bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var rev, modified, when string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				when = s.Value
			}
		}
		if rev != "" {
			commit = rev
			if when != "" {
				commit += " (" + when + ")"
			}
			if modified == "true" {
				commit += " modified"
			}
		} else if h := pseudoCommit(version); h != "" {
			commit = h + " (from the pseudo-version)"
		} else {
			commit = "unknown (no VCS information in the binary: go build in a git clone stamps it)"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fraglab %s\n", version)
	fmt.Fprintf(&b, "commit  %s\n", commit)
	fmt.Fprintf(&b, "go      %s\n", goVersion)
	vs := abiVersions()
	fmt.Fprintf(&b, "abi     %s (policy ABI v%d: modules declaring %s to %s load)\n", strings.Join(vs, " "), abi.Major, vs[0], vs[len(vs)-1])
	return b.String()
}
