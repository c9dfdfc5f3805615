// Command gopanic is a hostile Go guest: its round_size hook panics on the
// third request (a nil map write), so the host must report a trap with the
// Go runtime's panic text and never call the instance again.
package main

import "github.com/fraglab/fraglab/sdk/go/fraglab"

type panicky struct {
	calls int
	m     map[int64]int64
}

func (p *panicky) RoundSize(size int64, stream, tag int32) int64 {
	p.calls++
	if p.calls == 3 {
		p.m[size] = 1 // assignment to entry in nil map
	}
	return fraglab.Defer
}

func init() { fraglab.Register(&panicky{}) }

func main() {}
