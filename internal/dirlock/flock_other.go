//go:build !unix

package dirlock

import (
	"errors"
	"os"
)

var errNoFlock = errors.New("no flock on this system")

func tryFlock(*os.File) error { return errNoFlock }

// alive: without a way to probe a pid, every holder is taken to be alive
// (a stale lock is removed by hand).
func alive(pid int) bool { return pid > 0 }
