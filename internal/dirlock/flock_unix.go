//go:build unix

package dirlock

import (
	"errors"
	"os"
	"syscall"
)

var errNoFlock = errors.New("no flock on this system")

// tryFlock takes an exclusive flock on f without waiting: an error when
// another process holds one; errNoFlock when the file system has none.
func tryFlock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL) {
		return errNoFlock
	}
	return err
}

// alive reports whether a process with this pid exists on this host.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
