package runner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
)

// EnvLifeline names, in a worker's environment, the file descriptor of
// the read end of its lifeline: a pipe whose only write end the sweep
// holds. The worker reads it until end of file, which comes when the
// sweep closes it or dies, however it dies; the worker then exits. It is
// the portable half of "workers die with their parent"; on Linux the
// worker is also started with PR_SET_PDEATHSIG (SIGKILL), which the
// kernel sends when the sweep's process ends.
const EnvLifeline = "FRAGLAB_RUNNER_LIFELINE"

// ExitParentGone is the exit status of a worker whose sweep went away.
const ExitParentGone = 4

// lifeline is the sweep's end of a worker's lifeline.
type lifeline struct{ r, w *os.File }

// attachLifeline gives cmd a lifeline (not on Windows, which has no
// inheritable extra files: there the worker relies on its go-plugin
// connection). Call started once the process is started, and close when
// the worker is done with.
func attachLifeline(cmd *exec.Cmd) *lifeline {
	if runtime.GOOS == "windows" {
		return &lifeline{}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return &lifeline{}
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	cmd.Env = append(cmd.Env, EnvLifeline+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	return &lifeline{r: r, w: w}
}

// started drops the sweep's copy of the read end, which the worker now has.
func (l *lifeline) started() {
	if l.r != nil {
		l.r.Close()
		l.r = nil
	}
}

// close cuts the lifeline: a worker still running exits.
func (l *lifeline) close() {
	l.started()
	if l.w != nil {
		l.w.Close()
		l.w = nil
	}
}

// watchLifeline, in a worker, exits the process when its lifeline ends.
func watchLifeline(stderr io.Writer) {
	fd, err := strconv.Atoi(os.Getenv(EnvLifeline))
	if err != nil || fd < 3 {
		return
	}
	f := os.NewFile(uintptr(fd), "lifeline")
	if f == nil {
		return
	}
	go func() {
		_, _ = io.Copy(io.Discard, f)
		fmt.Fprintln(stderr, "fraglab: run worker: the sweep that started this worker is gone; exiting")
		os.Exit(ExitParentGone)
	}()
}
