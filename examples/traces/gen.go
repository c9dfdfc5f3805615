//go:build ignore

// Gen writes the bundled synthetic workload mixed-20k.jsonl.gz: 20,000
// events of mixed sizes (60% ≤ 1 MiB, 30% 1–10 MiB, 10% 10–200 MiB) around
// at most 300 live allocations, seed 2026. Run from the repository root:
//
//	go run examples/traces/gen.go
package main

import (
	"compress/gzip"
	"log"
	"os"

	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/trace"
)

func main() {
	f, err := os.Create("examples/traces/mixed-20k.jsonl.gz")
	if err != nil {
		log.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	w := trace.NewJSONLWriter(gz)
	tags := trace.NewTags()
	for _, e := range synth.Mixed(2026, 20000, 300) {
		if err := w.Write(e, tags); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
