// Package generate makes synthetic workloads: named generators that turn
// parameters and a seed into a trace of events. A generator is deterministic:
// the same parameters and seed give the same events.
package generate

import (
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/trace"
)

// Param documents one parameter of a generator.
type Param struct {
	Name    string // key in the params map
	Default string // value used when the key is absent
	Doc     string // meaning and accepted range
}

// Generator is a named workload generator.
type Generator struct {
	Name   string
	Doc    string  // one paragraph: what the workload is and the system it models
	Params []Param // in documentation order
	// gen makes the events from the full parameter set (defaults filled in).
	gen func(p *params, r *rand.Rand) ([]trace.Event, *trace.Tags, error)
}

var registry = map[string]*Generator{}

func register(g *Generator) { registry[g.Name] = g }

// Lookup returns the generator called name.
func Lookup(name string) (*Generator, bool) {
	g, ok := registry[name]
	return g, ok
}

// Names returns the names of the generators, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Generate runs the generator name with params (absent keys take their
// defaults) and seed. Values are the parameters by name. It fails for an unknown generator, an unknown
// parameter or a value out of its range, naming what is accepted.
func Generate(name string, values map[string]string, seed int64) ([]trace.Event, *trace.Tags, error) {
	g, ok := Lookup(name)
	if !ok {
		return nil, nil, fmt.Errorf("unknown generator %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	p := &params{gen: g, values: map[string]string{}}
	for _, d := range g.Params {
		p.values[d.Name] = d.Default
	}
	for k, v := range values {
		if _, ok := p.values[k]; !ok {
			known := make([]string, len(g.Params))
			for i, d := range g.Params {
				known[i] = d.Name
			}
			return nil, nil, fmt.Errorf("generator %s: unknown parameter %q (known: %s)", name, k, strings.Join(known, ", "))
		}
		p.values[k] = v
	}
	return g.gen(p, rand.New(rand.NewSource(seed)))
}

// params reads a generator's parameter values.
type params struct {
	gen    *Generator
	values map[string]string
}

func (p *params) errorf(name, format string, args ...any) error {
	return fmt.Errorf("generator %s: parameter %s=%q: %s", p.gen.Name, name, p.values[name], fmt.Sprintf(format, args...))
}

// size reads a size parameter in [lo, hi] bytes.
func (p *params) size(name string, lo, hi int64) (int64, error) {
	n, err := units.ParseSize(p.values[name])
	if err != nil {
		return 0, p.errorf(name, "%v", err)
	}
	if n < lo || n > hi {
		return 0, p.errorf(name, "want a size in [%s, %s]", units.Format(lo), units.Format(hi))
	}
	return n, nil
}

// int reads an integer parameter in [lo, hi].
func (p *params) int(name string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(p.values[name]), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, p.errorf(name, "want an integer in [%d, %d]", lo, hi)
	}
	return n, nil
}

// choice reads a parameter that takes one of options.
func (p *params) choice(name string, options ...string) (string, error) {
	v := p.values[name]
	if !slices.Contains(options, v) {
		return "", p.errorf(name, "want one of %s", strings.Join(options, ", "))
	}
	return v, nil
}

// builder accumulates events with fresh ids.
type builder struct {
	events []trace.Event
	tags   *trace.Tags
	next   int64
}

func newBuilder() *builder { return &builder{tags: trace.NewTags()} }

func (b *builder) alloc(size int64, tag string) int64 { return b.allocIn(size, tag, 0) }

// allocIn allocates from memory pool pool: 0 the default pool, 1 and up a
// private pool (a CUDA graph's).
func (b *builder) allocIn(size int64, tag string, pool int64) int64 {
	id := b.next
	b.next++
	b.events = append(b.events, trace.Event{Op: trace.OpAlloc, ID: id, Size: size, Tag: b.tags.ID(tag), Pool: pool})
	return id
}

// releasePool lets go of private pool pool (a CUDA graph destroyed).
func (b *builder) releasePool(pool int64) {
	b.events = append(b.events, trace.Event{Op: trace.OpReleasePool, Pool: pool})
}

func (b *builder) free(id int64) {
	b.events = append(b.events, trace.Event{Op: trace.OpFree, ID: id})
}
