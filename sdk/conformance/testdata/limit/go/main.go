// Command limit checks the Go SDK's ABI 1.3 feature through the host: it
// implements only ReserveLimiter, with the limit its parameter "limit"
// gives in bytes (default 0: no limit).
package main

import "github.com/fraglab/fraglab/sdk/go/fraglab"

type limit struct{ bytes int64 }

func (l *limit) Init() error {
	l.bytes = fraglab.ParamInt("limit", 0)
	return nil
}

func (l *limit) ReserveLimit() int64 { return l.bytes }

func init() { fraglab.Register(&limit{}) }

func main() {}
