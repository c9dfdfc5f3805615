// Command example is the "sizeclass" policy written with the Go SDK. Every
// fraglab SDK ships the same example, so the languages can be compared and
// a conformance suite can require identical decisions:
//
//   - policy_round_size: jemalloc-style size classes, classes_per_doubling
//     classes between two powers of two, never finer than 512 bytes.
//   - policy_split: pool 0 splits off the request when at least 512 bytes
//     remain; the other pools only when at least split_min_mb MiB remain.
//   - every other decision: the host default.
//
// Parameters: classes_per_doubling (1, 2, 4, 8 or 16; default 4) and
// split_min_mb (≥ 1; default 4). Build from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o sizeclass.wasm ./sdk/go/example
package main

import "github.com/fraglab/fraglab/sdk/go/fraglab"

func init() { fraglab.Register(&SizeClass{}) }

// main never runs: the module is a reactor, started by _initialize.
func main() {}
