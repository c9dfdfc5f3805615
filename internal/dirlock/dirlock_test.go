package dirlock

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helper process: holds the lock of $DIRLOCK_TEST_DIR, says so on
// stdout, and waits for its stdin to close.
func TestMain(m *testing.M) {
	if dir := os.Getenv("DIRLOCK_TEST_DIR"); dir != "" {
		l, err := Acquire(dir, "fraglab run helper.yaml")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeLock(t *testing.T, dir string, h Holder) {
	t.Helper()
	b, _ := json.Marshal(h)
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	return cmd.Process.Pid
}

func TestAcquireRelease(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "fraglab run a.yaml")
	if err != nil || l.TookOver != nil {
		t.Fatalf("Acquire: %v, took over %v", err, l.TookOver)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	var h Holder
	if err != nil || json.Unmarshal(b, &h) != nil || h.PID != os.Getpid() || h.Command != "fraglab run a.yaml" || h.Host == "" || h.Started.IsZero() {
		t.Fatalf("lock file %s: %v", b, err)
	}
	// A second writer, even in this process, is refused, naming the holder.
	_, err = Acquire(dir, "fraglab merge x")
	var he *HeldError
	if !errors.As(err, &he) || he.Unknown || he.Holder.PID != os.Getpid() {
		t.Fatalf("second Acquire: %v, want a HeldError", err)
	}
	want := fmt.Sprintf("%s is in use by another fraglab: pid %d on host %s, since %s, running \"fraglab run a.yaml\" (lock %s); wait for it to end or stop it",
		dir, os.Getpid(), h.Host, h.Started.Format(time.RFC3339), filepath.Join(dir, FileName))
	if err.Error() != want {
		t.Errorf("refusal\n\t%s\nwant\n\t%s", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
		t.Errorf("lock file left after Release: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
	l2, err := Acquire(dir, "fraglab merge x")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

func TestStaleLockTakenOver(t *testing.T) {
	host, _ := os.Hostname()
	for name, pid := range map[string]int{
		"dead pid": deadPID(t),
		// alive but not holding the flock: a pid reused by another process
		"reused pid": os.Getppid(),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			old := Holder{PID: pid, Host: host, Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Command: "fraglab run old.yaml"}
			writeLock(t, dir, old)
			l, err := Acquire(dir, "fraglab run new.yaml")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			if l.TookOver == nil || *l.TookOver != old {
				t.Errorf("TookOver = %v, want %v", l.TookOver, old)
			}
			b, _ := os.ReadFile(filepath.Join(dir, FileName))
			if !strings.Contains(string(b), "fraglab run new.yaml") {
				t.Errorf("lock file after the take-over: %s", b)
			}
		})
	}
}

func TestOtherHostCannotBeChecked(t *testing.T) {
	dir := t.TempDir()
	writeLock(t, dir, Holder{PID: 42, Host: "node-7.example", Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Command: "fraglab merge /shared/res"})
	_, err := Acquire(dir, "fraglab run x.yaml")
	want := fmt.Sprintf(`%s is locked by pid 42 on host node-7.example, since 2025-01-02T03:04:05Z, running "fraglab merge /shared/res"; that host's processes cannot be checked from here: if it is no longer running, remove %s`,
		dir, filepath.Join(dir, FileName))
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestNotALockFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("hello\n"), 0o644)
	_, err := Acquire(dir, "x")
	if err == nil || !strings.HasSuffix(err.Error(), FileName+" is not a lock file of fraglab (remove it if nothing else uses it)") {
		t.Fatalf("got %v", err)
	}
}

// Many takers of one stale lock: exactly one wins, the others are refused
// naming the winner.
func TestTakeOverRace(t *testing.T) {
	host, _ := os.Hostname()
	dir := t.TempDir()
	writeLock(t, dir, Holder{PID: deadPID(t), Host: host, Command: "old"})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		won   []*Lock
		other []error
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Acquire(dir, fmt.Sprint("taker ", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				other = append(other, err)
			} else {
				won = append(won, l)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d winners (%v)", len(won), other)
	}
	for _, err := range other {
		var he *HeldError
		if !errors.As(err, &he) || he.Holder.Command != won[0].command() {
			t.Errorf("loser: %v, want a refusal naming %q", err, won[0].command())
		}
	}
	won[0].Release()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
}

// A holder in another process: refused while it lives; once it is killed
// (SIGKILL: no clean-up), its lock is taken over, naming it.
func TestHolderKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DIRLOCK_TEST_DIR="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	_, err := Acquire(dir, "fraglab run me.yaml")
	var he *HeldError
	if !errors.As(err, &he) || he.Holder.PID != cmd.Process.Pid || he.Holder.Command != "fraglab run helper.yaml" || he.Unknown {
		t.Fatalf("while the helper lives: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(dir, "fraglab run me.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.TookOver == nil || l.TookOver.PID != cmd.Process.Pid {
		t.Errorf("TookOver = %v, want the helper (pid %d)", l.TookOver, cmd.Process.Pid)
	}
}

// command is what this lock's file says its holder runs (tests).
func (l *Lock) command() string {
	b, err := os.ReadFile(l.Path)
	if err != nil {
		return ""
	}
	var h Holder
	_ = json.Unmarshal(b, &h)
	return h.Command
}
