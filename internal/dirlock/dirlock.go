// Package dirlock makes one process at a time the writer of a results
// directory. The lock is a file in the directory, FileName, that says who
// holds it (pid, host, start time, command). It is created atomically (a
// hard link of a complete temporary file, so that no one ever reads a
// half-written lock) and, where the system has flock(2), held with an
// exclusive flock for as long as the holder lives, so that a holder's
// death, however it dies, frees it.
//
// A lock found in place is judged:
//
//   - its flock is held (the holder is alive, on this host or on a file
//     system that shares locks), or its holder is on this host and its pid
//     is alive: Acquire refuses with a *HeldError naming the holder;
//   - its holder was on this host and is gone (flock free, pid dead): the
//     lock is stale and taken over, and Lock.TookOver says whose it was;
//   - its holder is on another host and its flock is free: its liveness
//     cannot be told from here, so Acquire refuses, saying how to remove
//     the lock by hand.
package dirlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileName is the lock file's name inside the locked directory.
const FileName = ".fraglab.lock"

// Holder is what a lock file says.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
}

func (h *Holder) String() string {
	return fmt.Sprintf("pid %d on host %s, since %s, running %q", h.PID, h.Host, h.Started.Format(time.RFC3339), h.Command)
}

// HeldError is the refusal of a directory another process holds.
type HeldError struct {
	Dir    string
	Path   string // the lock file
	Holder Holder
	// Unknown: the holder is on another host and whether it lives cannot
	// be told from here.
	Unknown bool
}

func (e *HeldError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("%s is locked by %s; that host's processes cannot be checked from here: if it is no longer running, remove %s",
			e.Dir, e.Holder.String(), e.Path)
	}
	return fmt.Sprintf("%s is in use by another fraglab: %s (lock %s); wait for it to end or stop it", e.Dir, e.Holder.String(), e.Path)
}

// Lock is a held lock.
type Lock struct {
	Path string
	// TookOver is the holder of the stale lock this one replaced, if any.
	TookOver *Holder
	f        *os.File
}

// Acquire locks dir (which must exist) for this process, command being
// what it runs (shown to whoever is refused).
func Acquire(dir, command string) (*Lock, error) {
	host, _ := os.Hostname()
	me := Holder{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Truncate(time.Second), Command: command}
	path := filepath.Join(dir, FileName)
	b, err := json.MarshalIndent(me, "", "  ")
	if err != nil {
		return nil, err
	}
	var tookOver *Holder
	for attempt := 0; ; attempt++ {
		if attempt == 50 {
			return nil, fmt.Errorf("locking %s: the lock file keeps changing under us", dir)
		}
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Millisecond) // another is taking it over
		}
		// A complete lock file under a temporary name, flocked before it
		// appears under its real name.
		tmp, err := os.CreateTemp(dir, ".tmp-"+FileName+"-*")
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if err := tryFlock(tmp); err != nil && !errors.Is(err, errNoFlock) {
			discard(tmp)
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if _, err := tmp.Write(append(b, '\n')); err != nil {
			discard(tmp)
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		_ = tmp.Sync()
		err = os.Link(tmp.Name(), path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// No hard links here: O_EXCL instead (the content is written
			// after the creation, so a reader may see it empty: judged
			// "being created", see judge).
			err = createExcl(path, b)
			if err == nil {
				discard(tmp)
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					return nil, fmt.Errorf("locking %s: %w", dir, err)
				}
				_ = tryFlock(f)
				return &Lock{Path: path, TookOver: tookOver, f: f}, nil
			}
		}
		if err == nil {
			os.Remove(tmp.Name())
			return &Lock{Path: path, TookOver: tookOver, f: tmp}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			discard(tmp)
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		// Someone's lock is there: alive, stale or changing.
		old, stale, err := judge(dir, path, host)
		if err != nil {
			discard(tmp)
			var he *HeldError
			if errors.As(err, &he) {
				return nil, err
			}
			if errors.Is(err, errChanged) {
				continue
			}
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		// Stale, and its flock is ours (stale.f): replace it by ours. Whoever
		// else judged it stale waits on that flock, then sees another file.
		err = os.Rename(tmp.Name(), path)
		stale.Close()
		if err != nil {
			discard(tmp)
			return nil, fmt.Errorf("locking %s: taking over the stale lock: %w", dir, err)
		}
		h := old
		tookOver = &h
		return &Lock{Path: path, TookOver: tookOver, f: tmp}, nil
	}
}

var errChanged = errors.New("the lock file changed")

// judge decides about the lock in place at path: a *HeldError when its
// holder lives (or cannot be checked), errChanged when it went or was
// replaced meanwhile, else it is stale: its holder and the open lock file,
// flocked by us, are returned.
func judge(dir, path, host string) (Holder, *os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return Holder{}, nil, errChanged
	}
	if err != nil {
		return Holder{}, nil, err
	}
	lockErr := tryFlock(f)
	// Blocking would mean waiting for another taker-over: we do not wait,
	// a held flock is a live holder.
	held := lockErr != nil && !errors.Is(lockErr, errNoFlock)
	if !sameFile(f, path) {
		f.Close()
		return Holder{}, nil, errChanged
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return Holder{}, nil, err
	}
	var h Holder
	if jerr := json.Unmarshal(b, &h); jerr != nil || h.PID == 0 {
		f.Close()
		if held || len(strings.TrimSpace(string(b))) == 0 {
			// Being written (O_EXCL fallback), or a holder we cannot read.
			return Holder{}, nil, &HeldError{Dir: dir, Path: path, Holder: Holder{Command: "(unreadable lock file)"}, Unknown: !held}
		}
		return Holder{}, nil, fmt.Errorf("%s is not a lock file of fraglab (remove it if nothing else uses it)", path)
	}
	switch {
	case held && h.Host == host && !alive(h.PID):
		// A dead holder's flock held: another process is taking it over.
		f.Close()
		return h, nil, errChanged
	case held:
		f.Close()
		return h, nil, &HeldError{Dir: dir, Path: path, Holder: h}
	case h.Host != host:
		f.Close()
		return h, nil, &HeldError{Dir: dir, Path: path, Holder: h, Unknown: true}
	case alive(h.PID) && errors.Is(lockErr, errNoFlock):
		// No flock to tell: a live pid is taken to be the holder.
		f.Close()
		return h, nil, &HeldError{Dir: dir, Path: path, Holder: h}
	case alive(h.PID) && h.PID == os.Getpid():
		f.Close()
		return h, nil, &HeldError{Dir: dir, Path: path, Holder: h}
	}
	// This host, flock free (or none) and the pid dead, or alive but not
	// holding its flock: a reused pid.
	return h, f, nil
}

// sameFile reports whether the open f is still the file at path.
func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func createExcl(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// Release removes the lock file (if it is still this lock's) and lets the
// flock go. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	var err error
	if sameFile(l.f, l.Path) {
		err = os.Remove(l.Path)
	}
	l.f.Close()
	l.f = nil
	return err
}
