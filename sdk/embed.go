// Package sdk embeds the guest SDK sources a policy skeleton needs, so the
// fraglab binary can write a self-contained, offline-buildable policy
// project anywhere (fraglab policy new; package policytool). The SDKs
// themselves live beside this file: c/, go/, rust/, assemblyscript/, wat/;
// ABI.md is the contract they implement.
package sdk

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// files holds every embedded SDK source. The Go pattern also matches the
// SDK's _test.go files (a pattern cannot exclude them); GoFiles leaves them
// out. The Rust crate is one file today; the pattern takes any module it
// may grow.
//
//go:embed abi/abi.go
//go:embed c/fraglab.h
//go:embed go/fraglab/*.go
//go:embed rust/fraglab/src/*.rs
//go:embed assemblyscript/assembly/fraglab.ts assemblyscript/assembly/tsconfig.json assemblyscript/package-lock.json
//go:embed wat/template.wat
var files embed.FS

// Paths inside FS of the files a skeleton copies.
const (
	CHeader       = "c/fraglab.h"                           // the C SDK
	RustLib       = "rust/fraglab/src/lib.rs"               // the Rust SDK crate's root (RustFiles: every source)
	ASModule      = "assemblyscript/assembly/fraglab.ts"    // the AssemblyScript SDK
	ASTSConfig    = "assemblyscript/assembly/tsconfig.json" // editor settings of assembly/
	ASPackageLock = "assemblyscript/package-lock.json"      // pins assemblyscript and its dependencies
	WATTemplate   = "wat/template.wat"                      // every import and hook, in WebAssembly text
	GoPackageDir  = "go/fraglab"                            // the Go SDK package (GoFiles)
	GoABIFile     = "abi/abi.go"                            // the ABI constants the Go SDK (and the host) import
)

// Import paths of the Go SDK and of the package of ABI constants it
// imports (sdk/abi, GoABIFile; the host imports the same package).
const (
	GoPackageImport = "github.com/fraglab/fraglab/sdk/go/fraglab"
	GoABIImportPath = "github.com/fraglab/fraglab/sdk/abi"
)

// FS returns the embedded SDK sources, paths relative to sdk/.
func FS() fs.FS { return files }

// File returns one embedded file by its path relative to sdk/ (CHeader,
// RustLib, ...).
func File(name string) ([]byte, error) { return files.ReadFile(name) }

// GoFiles returns the Go SDK package's source files needed to build a guest
// (and to test one natively with its FakeHost), by file name: every .go
// file of sdk/go/fraglab except the _test.go files.
func GoFiles() (map[string][]byte, error) {
	entries, err := files.ReadDir(GoPackageDir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || path.Ext(n) != ".go" || strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := files.ReadFile(path.Join(GoPackageDir, n))
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}

// RustFiles returns the Rust SDK crate's sources (rust/fraglab/src), by
// path relative to that directory: lib.rs and any module beside it.
func RustFiles() (map[string][]byte, error) {
	const dir = "rust/fraglab/src"
	entries, err := files.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".rs" {
			continue
		}
		b, err := files.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = b
	}
	return out, nil
}
