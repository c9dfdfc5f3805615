// Command privatepool checks that the Go SDK reads ABI 1.4's stat key 17
// through the host: ChoosePool puts an allocation to private memory pool p
// (1..6) into pool 1 + p and defers for the default memory pool.
package main

import "github.com/fraglab/fraglab/sdk/go/fraglab"

type privatePool struct{}

func (privatePool) ChoosePool(rounded int64, stream, tag int32) int64 {
	pool, ok := fraglab.RequestPrivatePool()
	switch {
	case !ok:
		return fraglab.Fail("stat 17 answered no memory pool while an allocation is served")
	case pool == 0:
		return fraglab.Defer
	}
	return 1 + pool%7
}

func init() { fraglab.Register(privatePool{}) }

func main() {}
