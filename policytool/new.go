package policytool

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/fraglab/fraglab/sdk"
)

// skeletons holds the templates of the skeleton files, by language.
//
//go:embed skeleton
var skeletons embed.FS

// asVersionFallback is the AssemblyScript compiler a skeleton pins when the
// SDK's package-lock.json does not say.
const asVersionFallback = "0.28.20"

// skeletonData fills the templates.
type skeletonData struct {
	Name, Lang, LangTitle         string
	Entry                         string // what the build compiles
	Source                        string // the file with the rule to edit
	Commands                      string // the build commands, one per line, for the README
	Needs                         string // what the build needs, for the README
	GoModule                      string // Go: the module path
	NPMName, NPMVersion, NPMBuild string // AssemblyScript
	ASVersion                     string
}

// New writes a skeleton policy project in language lang (C, Go, Rust,
// AssemblyScript, WAT, or an alias ParseLang knows) to dir: a policy
// implementing one hook (policy_round_size, marked "edit this rule") with
// other hooks as commented examples, a copy of the language's SDK, a README
// with the build command, and the fraglab.policy marker. It builds as is
// with Build, offline. name defaults to dir's base name. New refuses a dir
// that exists and is not empty unless force, which overwrites the files a
// skeleton has and leaves the others. It returns the files written,
// relative to dir, sorted.
func New(dir, lang, name string, force bool) ([]string, error) {
	lang, err := ParseLang(lang)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = defaultName(dir)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return nil, fmt.Errorf("%s exists and is not a directory", dir)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		if len(ents) > 0 && !force {
			return nil, fmt.Errorf("%s is not empty: choose a new directory, or --force to overwrite the skeleton's files in it", dir)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files, err := skeletonFiles(lang, name)
	if err != nil {
		return nil, err
	}
	if lang == Go && force {
		// The SDK copy is the skeleton's own: no stale file of an older
		// SDK may stay beside the new one.
		if err := os.RemoveAll(filepath.Join(dir, "fraglab-sdk")); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// skeletonFiles returns the files of a skeleton, by slash-separated path.
func skeletonFiles(lang, name string) (map[string][]byte, error) {
	entry := entries[lang]
	d := skeletonData{Name: name, Lang: lang, LangTitle: langTitles[lang], Entry: entry, Source: ruleFiles[lang], GoModule: goModulePath(name), NPMName: name}
	out := map[string][]byte{}
	var firstErr error
	render := func(dst, tmpl string) {
		if firstErr != nil {
			return
		}
		b, err := execTemplate(tmpl, d)
		if err != nil {
			firstErr = err
			return
		}
		out[dst] = b
	}
	copySDK := func(dst, src string) {
		if firstErr != nil {
			return
		}
		b, err := sdk.File(src)
		if err != nil {
			firstErr = fmt.Errorf("the embedded SDK lacks %s: %w", src, err)
			return
		}
		out[dst] = b
	}
	gitignore := "# built modules\n*.wasm\n"
	switch lang {
	case C:
		render("policy.c", "c/policy.c.tmpl")
		copySDK("fraglab.h", sdk.CHeader)
	case Go:
		render("go.mod", "go/go.mod.tmpl")
		render("main.go", "go/main.go.tmpl")
		render("policy.go", "go/policy.go.tmpl")
		render("policy_test.go", "go/policy_test.go.tmpl")
		render("fraglab-sdk/go.mod", "go/sdk.go.mod.tmpl")
		gofiles, err := sdk.GoFiles()
		if err != nil {
			return nil, err
		}
		if len(gofiles) == 0 {
			return nil, errors.New("the embedded Go SDK has no source files")
		}
		needsABI := false
		for n, b := range gofiles {
			out["fraglab-sdk/sdk/go/fraglab/"+n] = b
			needsABI = needsABI || bytes.Contains(b, []byte(`"`+sdk.GoABIImportPath+`"`))
		}
		if needsABI {
			b, err := sdk.File(sdk.GoABIFile)
			if err != nil {
				return nil, err
			}
			out["fraglab-sdk/sdk/abi/abi.go"] = b
		}
	case Rust:
		render("policy.rs", "rust/policy.rs.tmpl")
		rs, err := sdk.RustFiles()
		if err != nil {
			return nil, err
		}
		if _, ok := rs[path.Base(sdk.RustLib)]; !ok {
			return nil, fmt.Errorf("the embedded Rust SDK lacks %s", sdk.RustLib)
		}
		for n, b := range rs {
			out["fraglab/src/"+n] = b
		}
		gitignore += "# the SDK's rlib\ntarget/\n"
	case AssemblyScript:
		lock, err := sdk.File(sdk.ASPackageLock)
		if err != nil {
			return nil, err
		}
		d.ASVersion, d.NPMVersion = asVersion(lock)
		d.NPMBuild = strings.Join(asArgs(entry, "build/"+name+".wasm"), " ")
		lock, err = renameLock(lock, name)
		if err != nil {
			return nil, err
		}
		out["package-lock.json"] = lock
		render("package.json", "assemblyscript/package.json.tmpl")
		render("assembly/policy.ts", "assemblyscript/policy.ts.tmpl")
		copySDK("assembly/fraglab.ts", sdk.ASModule)
		copySDK("assembly/tsconfig.json", sdk.ASTSConfig)
		gitignore += "# npm install\nnode_modules/\n# npm run build\nbuild/\n"
	case WAT:
		render("policy.wat", "wat/policy.wat.tmpl")
		copySDK("template.wat", sdk.WATTemplate)
	}
	var cmds []string
	if lang == AssemblyScript {
		cmds = append(cmds, npmCIDisplay+"   # first, when node_modules/ lacks the compiler")
	}
	for _, c := range buildSteps(lang, entry, name+".wasm") {
		cmds = append(cmds, c.display())
	}
	d.Commands = strings.Join(cmds, "\n")
	d.Needs = needs[lang]
	render("README.md", "README.md.tmpl")
	if firstErr != nil {
		return nil, firstErr
	}
	out[MarkerFile] = marker(lang, name, entry)
	out[".gitignore"] = []byte(gitignore)
	return out, nil
}

// execTemplate renders skeleton/<name>.
func execTemplate(name string, d skeletonData) ([]byte, error) {
	src, err := skeletons.ReadFile(path.Join("skeleton", name))
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// packageLock is the part of a package-lock.json New reads.
type packageLock struct {
	Name     string `json:"name"`
	Packages map[string]struct {
		Version string `json:"version"`
	} `json:"packages"`
}

// asVersion returns the assemblyscript version the SDK's lock file pins
// and the version of the SDK's package, which the skeleton's package.json
// takes so that npm install keeps the lock file as it is.
func asVersion(lock []byte) (compiler, pkg string) {
	compiler, pkg = asVersionFallback, "1.1.0"
	var l packageLock
	if json.Unmarshal(lock, &l) == nil {
		if v := l.Packages["node_modules/assemblyscript"].Version; v != "" {
			compiler = v
		}
		if v := l.Packages[""].Version; v != "" {
			pkg = v
		}
	}
	return compiler, pkg
}

// renameLock gives the SDK's lock file the project's name, so npm install
// keeps it as it is.
func renameLock(lock []byte, name string) ([]byte, error) {
	var l packageLock
	if err := json.Unmarshal(lock, &l); err != nil {
		return nil, fmt.Errorf("the embedded %s: %w", sdk.ASPackageLock, err)
	}
	if l.Name == "" {
		return lock, nil
	}
	old, _ := json.Marshal(l.Name)
	repl, _ := json.Marshal(name)
	return bytes.ReplaceAll(lock, append([]byte(`"name": `), old...), append([]byte(`"name": `), repl...)), nil
}

// goModulePath is the module path of a Go skeleton named name: the name,
// unless the go command refuses it as a module path (go, std, cmd, and the
// names Windows reserves), then name-policy.
func goModulePath(name string) string {
	switch name {
	case "go", "std", "cmd", "con", "prn", "aux", "nul":
		return name + "-policy"
	}
	if len(name) == 4 && (strings.HasPrefix(name, "com") || strings.HasPrefix(name, "lpt")) && name[3] >= '0' && name[3] <= '9' {
		return name + "-policy"
	}
	return name
}
