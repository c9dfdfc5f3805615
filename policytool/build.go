package policytool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RustcEnv names the environment variable that overrides the rustc Build
// runs (default /usr/bin/rustc, Debian's, which has the wasm32 standard
// library; a rustup rustc on PATH usually lacks it).
const RustcEnv = "FRAGLAB_RUSTC"

// debianRustc is the rustc the Rust SDK's README documents.
const debianRustc = "/usr/bin/rustc"

// rustTarget is the Rust SDK's target.
const rustTarget = "wasm32-unknown-unknown"

// needs says, per language, what Build needs installed (for the README).
var needs = map[string]string{
	C:              "clang and wasm-ld (Debian: `apt-get install clang lld`; tested with clang 14)",
	Go:             "Go 1.24 or later (https://go.dev/dl/); nothing is downloaded",
	Rust:           "Debian's rustc with the wasm32 standard library (`apt-get install rustc libstd-rust-dev-wasm32`; rustc 1.63 or later) and nothing else: rustc links with its own rust-lld. Another rustc: `FRAGLAB_RUSTC=/path/to/rustc`",
	AssemblyScript: "Node.js 20 or later with npm (`apt-get install nodejs npm`); when `node_modules/` lacks the compiler, `fraglab policy build` first runs `" + npmCIDisplay + "` (npm's registry, or its cache offline)",
	WAT:            "wat2wasm from wabt (`apt-get install wabt`)",
}

// ToolchainError reports a tool Build needs that is missing, with what to
// install.
type ToolchainError struct {
	Tool string // the tool, as the SDK's README names it
	Fix  string // what to install or run
}

func (e *ToolchainError) Error() string { return e.Tool + " not found: " + e.Fix }

// ToolError reports a tool that ran and failed, with what it printed.
type ToolError struct {
	Tool    string // the tool, as the SDK's README names it
	Command string // the command line, as it ran
	Err     error  // the exit status
	Output  string // stdout and stderr
	Hint    string // what to try, or ""
}

func (e *ToolError) Error() string {
	s := fmt.Sprintf("%s failed (%v):\n$ %s\n%s", e.Tool, e.Err, e.Command, strings.TrimRight(e.Output, "\n"))
	if e.Hint != "" {
		s += "\n" + e.Hint
	}
	return s
}

// npmCIArgs installs an AssemblyScript project's pinned compiler from its
// package-lock.json (npmInstallArgs when it has none). --prefer-offline
// takes what npm's cache holds: the lock file pins every version and its
// integrity hash.
var (
	npmCIArgs      = []string{"ci", "--prefer-offline", "--no-audit", "--no-fund"}
	npmInstallArgs = []string{"install", "--prefer-offline", "--no-audit", "--no-fund"}
	npmCIDisplay   = "npm " + strings.Join(npmCIArgs, " ")
)

// Result is what Build did.
type Result struct {
	Project  Project
	Out      string        // the module written, absolute
	Commands []string      // the commands run, in Project.Dir (else with a cd), as shell lines
	Output   string        // what the tools printed (warnings)
	Size     int64         // bytes of the module
	Elapsed  time.Duration // time the whole build took
}

// step is one command of a build.
type step struct {
	tool string   // the documented name: clang, go, /usr/bin/rustc, asc, wat2wasm, mkdir, npm
	args []string // arguments
	env  []string // KEY=VALUE set for the command
	dir  string   // where it runs, when not in the project
}

// display renders the step as the shell line an SDK README shows.
func (s step) display() string {
	var parts []string
	parts = append(parts, s.env...)
	tool := s.tool
	if tool == "asc" {
		tool = "npx asc"
	}
	parts = append(parts, tool)
	for _, a := range s.args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes a word for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// asArgs is the AssemblyScript compile command of sdk/assemblyscript.
func asArgs(entry, out string) []string {
	return []string{"asc", entry, "-O3", "--runtime", "stub", "--noAssert", "--use", "abort=", "-o", out}
}

// rlib is where a Rust build puts the SDK's compiled crate, relative to
// the project.
const rlib = "target/libfraglab.rlib"

// buildSteps are the commands the SDK READMEs document, for a project's
// entry file, writing out (relative to the project or absolute).
func buildSteps(lang, entry, out string) []step {
	switch lang {
	case C:
		// sdk/c/README.md, with the warnings it recommends (not -Werror).
		return []step{{tool: "clang", args: []string{"--target=wasm32", "-std=c11", "-O2", "-ffreestanding", "-nostdlib",
			"-Wl,--no-entry", "-Wl,--strip-all", "-I", ".",
			"-Wall", "-Wextra", "-Wno-unused-parameter", "-Wmissing-prototypes", "-o", out, entry}}}
	case Go:
		return []step{{tool: "go", env: []string{"GOOS=wasip1", "GOARCH=wasm"},
			args: []string{"build", "-buildmode=c-shared", "-o", out, "."}}}
	case Rust:
		// sdk/rust/README.md, with the rlib kept in the project.
		target := []string{"--target", rustTarget, "-C", "opt-level=3", "-C", "panic=abort"}
		return []step{
			{tool: "mkdir", args: []string{"-p", filepath.ToSlash(filepath.Dir(rlib))}},
			{tool: debianRustc, args: slices.Concat([]string{"--edition", "2021", "--crate-type", "rlib"}, target,
				[]string{"--crate-name", "fraglab", "fraglab/src/lib.rs", "-o", rlib})},
			{tool: debianRustc, args: slices.Concat([]string{"--edition", "2021", "--crate-type", "cdylib"}, target,
				[]string{"-C", "link-arg=-zstack-size=65536", "-C", "strip=symbols", "--extern", "fraglab=" + rlib, "-o", out, entry})},
		}
	case AssemblyScript:
		a := asArgs(entry, out)
		return []step{{tool: a[0], args: a[1:]}}
	case WAT:
		return []step{{tool: "wat2wasm", args: []string{entry, "-o", out}}}
	}
	return nil
}

// BuildOptions are the options of BuildWith.
type BuildOptions struct {
	// Log, when not nil, gets each command as a "$ " shell line just
	// before it runs.
	Log io.Writer
}

// Build builds the policy project in dir into the module out (default
// dir/<name>.wasm): it finds the language (Detect), checks that the
// toolchain is there (a *ToolchainError names what to install), and runs
// the commands the language's SDK README documents, in dir. An
// AssemblyScript project without its compiler in node_modules gets it
// first: npm ci (npm install without a package-lock.json) where its
// package.json lies. A tool that fails gives a *ToolError with its output.
// out is written only when the build succeeds.
func Build(ctx context.Context, dir, out string) (*Result, error) {
	return BuildWith(ctx, dir, out, BuildOptions{})
}

// BuildWith is Build with options.
func BuildWith(ctx context.Context, dir, out string, opts BuildOptions) (*Result, error) {
	start := time.Now()
	p, err := Detect(dir)
	if err != nil {
		return nil, err
	}
	if p.Dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if out == "" {
		out = filepath.Join(p.Dir, p.Name+".wasm")
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, err
	}
	tools, pre, err := findTools(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: give the module's file name", out)
	}
	// The tools write out themselves; a failed build leaves none, never a
	// stale one.
	if err := os.Remove(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(out)
		}
	}()

	res := &Result{Project: *p, Out: out}
	logLine := func(line string) {
		res.Commands = append(res.Commands, line)
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "$ %s\n", line)
		}
	}
	var output bytes.Buffer
	for _, s := range append(pre, buildSteps(p.Lang, p.Entry, out)...) {
		if s.tool == "mkdir" {
			logLine(s.display())
			if err := os.MkdirAll(filepath.Join(p.Dir, filepath.FromSlash(s.args[len(s.args)-1])), 0o755); err != nil {
				return nil, err
			}
			continue
		}
		cmd := exec.CommandContext(ctx, tools[s.tool], s.args...)
		cmd.Dir = p.Dir
		line := strings.TrimSpace(strings.Join(s.env, " ") + " " + tools[s.tool] + " " + strings.Join(quoteAll(s.args), " "))
		if s.dir != "" && s.dir != p.Dir {
			cmd.Dir = s.dir
			line = "(cd " + shellQuote(s.dir) + " && " + line + ")"
		}
		cmd.Env = append(os.Environ(), s.env...)
		logLine(line)
		b, err := cmd.CombinedOutput()
		if err != nil {
			te := &ToolError{Tool: s.tool, Command: line, Err: err, Output: string(b)}
			if s.tool == "npm" {
				te.Hint = "npm fetches the pinned AssemblyScript compiler from its registry, or from its cache offline; with neither, run " +
					"npm " + s.args[0] + " in " + cmd.Dir + " where the registry is reachable, then build again"
			}
			return nil, te
		}
		if s.tool == "npm" {
			// npm's own chatter ("added 3 packages") is not a warning.
			if _, err := os.Stat(tools["asc"]); err != nil {
				return nil, &ToolchainError{Tool: "asc", Fix: fmt.Sprintf("%s ran in %s but installed no node_modules/.bin/asc: its package.json must list assemblyscript in devDependencies", line, cmd.Dir)}
			}
			continue
		}
		output.Write(b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("the build wrote no module: %w", err)
	}
	if !bytes.HasPrefix(bin, []byte("\x00asm")) {
		return nil, fmt.Errorf("the build wrote %s, which is not a WebAssembly module", out)
	}
	ok = true
	res.Output = output.String()
	res.Size = int64(len(bin))
	res.Elapsed = time.Since(start)
	return res, nil
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return out
}

// findTools resolves the tools a project's build runs, by their documented
// names, or says what to install; pre are the steps that install a
// missing tool first (npm ci for AssemblyScript).
func findTools(ctx context.Context, p *Project) (tools map[string]string, pre []step, err error) {
	tools = map[string]string{}
	look := func(name, fix string) error {
		path, err := exec.LookPath(name)
		if err != nil {
			return &ToolchainError{Tool: name, Fix: fix}
		}
		tools[name] = path
		return nil
	}
	switch p.Lang {
	case C:
		if err := look("clang", "install it with apt-get install clang lld"); err != nil {
			return nil, nil, err
		}
		if !hasWasmLD(tools["clang"]) {
			return nil, nil, &ToolchainError{Tool: "wasm-ld", Fix: "clang links WebAssembly with it: install it with apt-get install lld"}
		}
	case Go:
		if err := look("go", "install Go 1.24 or later (https://go.dev/dl/)"); err != nil {
			return nil, nil, err
		}
	case Rust:
		rustc, err := findRustc(ctx)
		if err != nil {
			return nil, nil, err
		}
		tools[debianRustc] = rustc
	case AssemblyScript:
		if err := look("node", "install Node.js 20 or later with npm (apt-get install nodejs npm)"); err != nil {
			return nil, nil, err
		}
		pkg, err := packageDir(p.Dir)
		if err != nil {
			return nil, nil, err
		}
		asc := filepath.Join(pkg, "node_modules", ".bin", "asc")
		tools["asc"] = asc
		if _, err := os.Stat(asc); err == nil {
			break
		}
		if err := look("npm", fmt.Sprintf("the AssemblyScript compiler is not installed in %s and fraglab installs it with npm: install npm (apt-get install nodejs npm), or run npm ci there yourself", filepath.Join(pkg, "node_modules"))); err != nil {
			return nil, nil, err
		}
		args := npmCIArgs
		if _, err := os.Stat(filepath.Join(pkg, "package-lock.json")); err != nil {
			args = npmInstallArgs
		}
		pre = append(pre, step{tool: "npm", args: args, dir: pkg,
			env: []string{"npm_config_update_notifier=false"}})
	case WAT:
		if err := look("wat2wasm", "install it with apt-get install wabt"); err != nil {
			return nil, nil, err
		}
	}
	return tools, pre, nil
}

// hasWasmLD reports whether clang can find wasm-ld: on PATH or beside
// clang itself.
func hasWasmLD(clang string) bool {
	if _, err := exec.LookPath("wasm-ld"); err == nil {
		return true
	}
	dirs := []string{filepath.Dir(clang)}
	if real, err := filepath.EvalSymlinks(clang); err == nil {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "wasm-ld")); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}

// findRustc returns the rustc to build with: $FRAGLAB_RUSTC, else
// /usr/bin/rustc, else rustc on PATH; and checks that it has the wasm32
// standard library.
func findRustc(ctx context.Context) (string, error) {
	const fix = "install it with apt-get install rustc libstd-rust-dev-wasm32 (or set " + RustcEnv + " to a rustc with the " + rustTarget + " target)"
	rustc := os.Getenv(RustcEnv)
	switch {
	case rustc != "":
		if _, err := os.Stat(rustc); err != nil {
			p, lerr := exec.LookPath(rustc)
			if lerr != nil {
				return "", &ToolchainError{Tool: rustc, Fix: fix}
			}
			rustc = p
		}
	default:
		if _, err := os.Stat(debianRustc); err == nil {
			rustc = debianRustc
		} else if p, err := exec.LookPath("rustc"); err == nil {
			rustc = p
		} else {
			return "", &ToolchainError{Tool: debianRustc, Fix: fix}
		}
	}
	b, err := exec.CommandContext(ctx, rustc, "--print", "sysroot").Output()
	if err != nil {
		return "", fmt.Errorf("%s --print sysroot: %v", rustc, err)
	}
	lib := filepath.Join(strings.TrimSpace(string(b)), "lib", "rustlib", rustTarget, "lib")
	if ents, err := os.ReadDir(lib); err != nil || !hasCore(ents) {
		return "", &ToolchainError{Tool: "the " + rustTarget + " standard library of " + rustc,
			Fix: "install it with apt-get install libstd-rust-dev-wasm32 (rustup: rustup target add " + rustTarget + ")"}
	}
	return rustc, nil
}

// hasCore reports whether a rustlib directory holds libcore.
func hasCore(ents []os.DirEntry) bool {
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "libcore-") {
			return true
		}
	}
	return false
}

// packageDir is the directory of an AssemblyScript project's package.json:
// the project's own, else the nearest parent's (where npm would install
// node_modules).
func packageDir(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "package.json")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("no package.json in %s or above it: an AssemblyScript policy needs one listing assemblyscript in devDependencies (fraglab policy new --lang assemblyscript writes one)", dir)
		}
		d = up
	}
}
