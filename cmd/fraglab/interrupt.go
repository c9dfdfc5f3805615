package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fraglab/fraglab/internal/dirlock"
)

// interruptSignal is the cause of a context ended by a signal.
type interruptSignal struct{ sig os.Signal }

func (s interruptSignal) Error() string { return "interrupted by " + s.sig.String() }

// interruptible is ctx ended by the first SIGINT or SIGTERM (how Slurm's
// scancel and Kubernetes stop a process), with the signal as its cause
// (interruptedBy). After the first, the signals are let go: a second
// Ctrl-C ends the process at once (its workers die with it; records are
// written atomically, so none is left half-done).
func interruptible(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigc:
			signal.Stop(sigc)
			cancel(interruptSignal{s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigc)
		close(done)
		cancel(context.Canceled)
	}
}

// interruptedBy is the signal that ended ctx, or nil.
func interruptedBy(ctx context.Context) os.Signal {
	var s interruptSignal
	if errors.As(context.Cause(ctx), &s) {
		return s.sig
	}
	return nil
}

func sigNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return 1
}

func sigName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// commandLine is the command as given: its path, arguments and the flags
// set, quoted for a POSIX shell, so that running it again does the same.
func commandLine(cmd *cobra.Command, args []string) string {
	parts := []string{cmd.CommandPath()}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			if f.Value.String() == "true" {
				parts = append(parts, "--"+f.Name)
			} else {
				parts = append(parts, "--"+f.Name+"=false")
			}
			return
		}
		parts = append(parts, "--"+f.Name, shellQuote(f.Value.String()))
	})
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lockDir makes this process the one writer of the results directory dir
// (created if need be), saying so when it takes over a stale lock.
func lockDir(stderr io.Writer, dir, command string) (*dirlock.Lock, error) {
	if dir == "" {
		return nil, errors.New("no output directory: the experiment has none and none was given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l, err := dirlock.Acquire(dir, command)
	if err != nil {
		return nil, err
	}
	if h := l.TookOver; h != nil {
		fmt.Fprintf(stderr, "fraglab: %s: took over the lock of %s, which is no longer running\n", dir, h)
	}
	return l, nil
}
