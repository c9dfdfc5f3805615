// Package policytool makes, builds and checks fraglab policy modules, the
// work behind `fraglab policy new|build|check`:
//
//   - New writes a skeleton policy project in one of the SDK languages (C,
//     Go, Rust, AssemblyScript, WAT) that builds as is and offline: the SDK
//     sources travel with it (package sdk embeds them).
//   - Build finds a project's language and runs the toolchain command its
//     SDK's README documents; a missing toolchain is an error naming what
//     to install.
//   - Check validates a module the way the host does (ABI version, hooks
//     and their signatures, imports), then replays a few thousand synthetic
//     events through it, with the allocator's invariants checked after each.
package policytool

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The languages of the SDKs.
const (
	C              = "c"
	Go             = "go"
	Rust           = "rust"
	AssemblyScript = "assemblyscript"
	WAT            = "wat"
)

// Languages lists the languages New and Build know, in the order of their
// SDKs' maturity in fraglab.
func Languages() []string { return []string{C, Go, Rust, AssemblyScript, WAT} }

// langTitles names each language in prose.
var langTitles = map[string]string{
	C: "C", Go: "Go", Rust: "Rust", AssemblyScript: "AssemblyScript", WAT: "WebAssembly text (WAT)",
}

// LangTitle names a language in prose: "C", "AssemblyScript", ...
func LangTitle(lang string) string { return langTitles[lang] }

// entries is what a skeleton's build compiles, relative to its directory:
// the policy's source file, or for Go the package.
var entries = map[string]string{
	C: "policy.c", Go: ".", Rust: "policy.rs", AssemblyScript: "assembly/policy.ts", WAT: "policy.wat",
}

// ruleFiles is the file of a skeleton that holds the rule to edit.
var ruleFiles = map[string]string{
	C: "policy.c", Go: "policy.go", Rust: "policy.rs", AssemblyScript: "assembly/policy.ts", WAT: "policy.wat",
}

// ParseLang returns the canonical name of a language name or alias.
func ParseLang(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "c":
		return C, nil
	case "go", "golang":
		return Go, nil
	case "rust", "rs":
		return Rust, nil
	case "assemblyscript", "as":
		return AssemblyScript, nil
	case "wat", "wasm-text":
		return WAT, nil
	}
	return "", fmt.Errorf("unknown language %q: expected one of %s", s, strings.Join(Languages(), ", "))
}

// MarkerFile names the file that marks a directory as a policy project.
const MarkerFile = "fraglab.policy"

// Project is what Build needs to know about a policy directory.
type Project struct {
	Dir   string // the directory
	Lang  string // C, Go, Rust, AssemblyScript or WAT
	Name  string // the project's name (the marker's, else the directory's)
	Entry string // the policy's source file, relative to Dir
	How   string // how the language was found: the marker, or the file names
}

// marker is the content of a fraglab.policy file: key = value lines.
func marker(lang, name, entry string) []byte {
	return fmt.Appendf(nil, `# A fraglab policy project, made by fraglab policy new.
# fraglab policy build reads it: the language and the policy's source file.
lang = %s
name = %s
entry = %s
`, lang, name, entry)
}

// readMarker parses a fraglab.policy file.
func readMarker(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected key = value, got %q", path, n, line)
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return kv, sc.Err()
}

// Detect finds the language and the entry file of the policy project in
// dir: from its fraglab.policy file, else from its file names (policy.c or
// a single .c file: C; go.mod and main.go: Go; package.json and assembly/:
// AssemblyScript; a .rs file: Rust; a .wat file: WAT).
func Detect(dir string) (*Project, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: give the directory of the policy project", dir)
	}
	p := &Project{Dir: dir, Name: defaultName(dir)}
	mpath := filepath.Join(dir, MarkerFile)
	if _, err := os.Stat(mpath); err == nil {
		kv, err := readMarker(mpath)
		if err != nil {
			return nil, err
		}
		lang, err := ParseLang(kv["lang"])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mpath, err)
		}
		p.Lang, p.How = lang, MarkerFile
		if n := kv["name"]; n != "" {
			p.Name = n
		}
		p.Entry = kv["entry"]
		if p.Entry == "" {
			if p.Entry, err = findEntry(dir, lang); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(filepath.Join(dir, p.Entry)); err != nil {
			return nil, fmt.Errorf("%s names entry %s, which is missing: %w", mpath, p.Entry, err)
		}
		return p, nil
	}
	p.How = "file names"
	has := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	switch {
	case has("go.mod") && has("main.go"):
		p.Lang = Go
	case has("package.json") && has("assembly"):
		p.Lang = AssemblyScript
	case len(glob(dir, "*.rs")) > 0:
		p.Lang = Rust
	case has("policy.c") || len(glob(dir, "*.c")) == 1:
		p.Lang = C
	case len(glob(dir, "*.wat")) > 0:
		p.Lang = WAT
	default:
		return nil, fmt.Errorf("cannot tell the language of the policy in %s: it has no %s, and none of policy.c, go.mod with main.go, a .rs file, package.json with assembly/, a .wat file (fraglab policy new writes a skeleton)", dir, MarkerFile)
	}
	var err2 error
	p.Entry, err2 = findEntry(dir, p.Lang)
	return p, err2
}

// findEntry picks the policy's source file in dir: the skeleton's name, or
// the only candidate.
func findEntry(dir, lang string) (string, error) {
	if lang == Go {
		return ".", nil
	}
	if _, err := os.Stat(filepath.Join(dir, entries[lang])); err == nil {
		return entries[lang], nil
	}
	var pattern string
	var skip string
	switch lang {
	case C:
		pattern = "*.c"
	case Rust:
		pattern = "*.rs"
	case AssemblyScript:
		pattern, skip = "assembly/*.ts", "assembly/fraglab.ts"
	case WAT:
		pattern, skip = "*.wat", "template.wat"
	}
	var found []string
	for _, f := range glob(dir, pattern) {
		if f != skip {
			found = append(found, f)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) == 0 {
		return "", fmt.Errorf("no %s source in %s (expected %s)", langTitles[lang], dir, entries[lang])
	}
	return "", fmt.Errorf("%s has several %s sources (%s): name the policy's in %s as entry = FILE",
		dir, langTitles[lang], strings.Join(found, ", "), MarkerFile)
}

// glob lists the files of dir matching pattern, relative to dir, sorted.
func glob(dir, pattern string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	out := make([]string, 0, len(m))
	for _, f := range m {
		r, err := filepath.Rel(dir, f)
		if err == nil {
			out = append(out, filepath.ToSlash(r))
		}
	}
	sort.Strings(out)
	return out
}

// defaultName derives a project name from a directory: its base name with
// every character outside [a-z0-9_-] replaced by '-', without leading or
// trailing '-' and '_'; "policy" if nothing is left.
func defaultName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	base := strings.ToLower(filepath.Base(abs))
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	n := strings.Trim(b.String(), "-_")
	if n == "" {
		return "policy"
	}
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "-_")
	}
	return n
}

// checkName validates a project name: it becomes a Go module path, an npm
// package name and a file name.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("policy name %q: must be 1 to 64 characters", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (i > 0 && (r == '_' || r == '-'))
		if !ok {
			return fmt.Errorf("policy name %q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", name)
		}
	}
	return nil
}
