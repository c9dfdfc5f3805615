package replay

import (
	"github.com/fraglab/fraglab/host/wasm"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fraglab/fraglab/trace"
)

// DefaultHangTimeout is how long one event may take before the policy is
// declared hung. Host work per event is microseconds; a hook that runs this
// long is in a loop it will not leave.
const DefaultHangTimeout = time.Second

// ExitHung is the exit status of a process stopped because a policy hung.
const ExitHung = wasm.ExitHung

// watchdog notices an event that does not finish. The replay loop pays one
// atomic store per event (the event index) and two per batch, and the
// instance two per hook call (which hook is running, about 5 ns).
//
// Wasm code cannot be preempted, and while a hook spins the Go runtime can
// neither stop the world nor finish a garbage collection. So in fast mode
// the watchdog must not allocate or look at other goroutines: it writes a
// report built in a buffer it owns (the event, what it asked, and the hook
// with its arguments) and ends the process. In safe mode (an interruptible instance) it interrupts the
// hook instead, and the run fails, or falls back, with the hook and its
// arguments.
type watchdog struct {
	event   atomic.Int64
	active  atomic.Bool
	batch   []trace.Event // the batch being served; written before active is set
	first   int64         // event index of batch[0]
	timeout time.Duration
	hung    func(msg string) // tests: replaces report-and-exit
	msg     []byte           // report buffer, allocated up front
	stop    chan struct{}
	done    chan struct{}
	// hooks stops the running hook (safe mode) or names it (fast mode).
	hooks hookControl
}

func startWatchdog(timeout time.Duration, hung func(string), hooks hookControl) *watchdog {
	w := &watchdog{timeout: timeout, hung: hung, hooks: hooks, msg: make([]byte, 0, 1024),
		stop: make(chan struct{}), done: make(chan struct{})}
	w.event.Store(-1)
	go w.watch()
	return w
}

// serve publishes a decoded batch; from here the loop is timed.
func (w *watchdog) serve(batch []trace.Event, first int64) {
	w.batch, w.first = batch, first
	w.active.Store(true)
}

// idle stops timing (while the next batch is decoded).
func (w *watchdog) idle() { w.active.Store(false) }

func (w *watchdog) close() {
	close(w.stop)
	<-w.done
}

func (w *watchdog) watch() {
	defer close(w.done)
	tick := time.NewTicker(w.timeout / 10)
	defer tick.Stop()
	last, since := int64(-2), time.Now()
	for {
		select {
		case <-w.stop:
			return
		case now := <-tick.C:
			e := w.event.Load()
			if !w.active.Load() || e != last {
				last, since = e, now
				continue
			}
			if now.Sub(since) < w.timeout {
				continue
			}
			if w.hooks.interrupt != nil && w.hooks.interrupt("the hook did not return within "+w.timeout.String()+" and was stopped") {
				return
			}
			w.report(e)
			return
		}
	}
}

// report writes what is known of the hung event to stderr without
// allocating, and ends the process with ExitHung.
func (w *watchdog) report(e int64) {
	b := append(w.msg[:0], "fraglab: event "...)
	b = strconv.AppendInt(b, e, 10)
	if i := e - w.first; i >= 0 && i < int64(len(w.batch)) {
		ev := w.batch[i]
		b = append(b, " ("...)
		b = append(b, ev.Op.String()...)
		switch ev.Op {
		case trace.OpEmptyCache:
			if ev.Pool != 0 {
				b = append(b, " pool="...)
				b = strconv.AppendInt(b, ev.Pool, 10)
			}
		case trace.OpReleasePool:
			b = append(b, " pool="...)
			b = strconv.AppendInt(b, ev.Pool, 10)
		default:
			b = append(b, " id="...)
			b = strconv.AppendInt(b, ev.ID, 10)
		}
		if ev.Op == trace.OpAlloc {
			b = append(b, " size="...)
			b = strconv.AppendInt(b, ev.Size, 10)
			b = append(b, " stream="...)
			b = strconv.AppendInt(b, ev.Stream, 10)
			b = append(b, " tag="...)
			b = strconv.AppendInt(b, int64(ev.Tag), 10)
			if ev.Pool != 0 {
				b = append(b, " pool="...)
				b = strconv.AppendInt(b, ev.Pool, 10)
			}
		}
		b = append(b, ')')
	}
	b = append(b, ": "...)
	named := false
	if w.hooks.running != nil {
		b, named = w.hooks.running(b)
	}
	if !named {
		b = append(b, "a policy hook"...)
	}
	b = append(b, " did not return within "...)
	b = strconv.AppendInt(b, w.timeout.Milliseconds(), 10)
	b = append(b, "ms. Wasm code cannot be interrupted in fast mode, so the process ends; rerun with --safe to stop the hook instead of the process.\n"...)
	if w.hung != nil {
		w.hung(string(b))
		return
	}
	os.Stderr.Write(b)
	os.Exit(ExitHung)
}
