package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/snapshot"
)

// RunSpecs executes specs in worker processes that each serve many runs:
// min(o.Parallel, len(specs)) workers are started once and take the next
// spec as they finish one, so the start-up of a process and the reading of
// a snapshot (cached per worker) are paid once per worker, not once per
// run. It is for sweeps of many short runs over one workload (fraglab
// tune); Run keeps one process per run.
//
// Records come back in spec order and are not written anywhere. A run that
// fails, or whose worker crashes, hangs or passes o.RunTimeout, gives a
// failed record; its worker is replaced and the other runs go on. o.OnDone
// is called, one call at a time, as each run ends; o.Out, o.Only and
// o.OnStart are not used. When ctx ends, RunSpecs kills its workers and
// returns ctx's error.
func RunSpecs(ctx context.Context, specs []Spec, o Options) ([]*runrecord.Record, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	recs := make([]*runrecord.Record, len(specs))
	todo := make([]int, len(specs))
	for i := range todo {
		todo[i] = i
	}
	var mu sync.Mutex
	feedWorkers(ctx, o.Parallel, todo, func(jobs <-chan int) {
		w := &pooledWorker{o: &o}
		defer w.stop()
		for i := range jobs {
			rec := w.run(ctx, &specs[i])
			if rec == nil { // interrupted
				continue
			}
			mu.Lock()
			recs[i] = rec
			if o.OnDone != nil {
				o.OnDone(rec)
			}
			mu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return recs, err
	}
	return recs, nil
}

// pooledWorker is one worker process that serves runs one after another;
// it is started on its first run and after a failure that ended it.
type pooledWorker struct {
	o      *Options
	client *plugin.Client
	cmd    *exec.Cmd
	rpc    *workerClient
	tail   *stderrTail
	life   *lifeline
}

// start launches the worker process and connects to it.
func (w *pooledWorker) start() error {
	w.client, w.cmd, w.tail, w.life = newWorkerClient(w.o)
	proto, err := w.client.Client()
	w.life.started()
	if err == nil {
		var raw any
		if raw, err = proto.Dispense(pluginName); err == nil {
			w.rpc = raw.(*workerClient)
			return nil
		}
	}
	reason := exitReason(w.client, w.cmd, err, w.tail)
	w.stop()
	return errors.New(reason)
}

// stop ends the worker process, if any.
func (w *pooledWorker) stop() {
	if w.client != nil {
		w.client.Kill()
	}
	if w.life != nil {
		w.life.close()
	}
	w.client, w.cmd, w.rpc, w.life = nil, nil, nil, nil
}

// run executes s on the worker (starting it if needed) and returns its
// record, or nil when ctx ended first.
func (w *pooledWorker) run(ctx context.Context, s *Spec) *runrecord.Record {
	start := time.Now()
	fail := func(format string, args ...any) *runrecord.Record {
		return s.failedRecord(start, format, args...)
	}
	if ctx.Err() != nil {
		return nil
	}
	if w.rpc == nil {
		if err := w.start(); err != nil {
			return fail("starting the worker: %v", err)
		}
	}
	rpc := w.rpc
	end, rec, err := waitRun(ctx, w.o.RunTimeout, func() (*runrecord.Record, error) { return rpc.run(s) })
	switch {
	case end == runTimedOut:
		killWorker(w.cmd)
		tail := tailSuffix(w.tail)
		w.stop()
		return fail("run timed out after %s: worker killed%s", w.o.RunTimeout, tail)
	case end == runCanceled:
		w.stop()
		return nil
	case err != nil:
		reason := exitReason(w.client, w.cmd, err, w.tail)
		w.stop()
		return fail("%s", reason)
	}
	rec.ElapsedSeconds = time.Since(start).Seconds()
	return rec
}

// snapshotCache keeps the snapshots a worker process has read, by path, so
// that a worker serving many runs of one snapshot parses it once. A file
// that changed (size or modification time) is read again.
var snapshotCache = struct {
	sync.Mutex
	m map[string]cachedSnapshot
}{m: map[string]cachedSnapshot{}}

type cachedSnapshot struct {
	size int64
	mod  time.Time
	snap *snapshot.Snapshot
}

// readSnapshot is snapshot.ReadFile with snapshotCache in front.
func readSnapshot(path string) (*snapshot.Snapshot, error) {
	st, err := os.Stat(path)
	if err != nil {
		return snapshot.ReadFile(path) // its error names the file
	}
	snapshotCache.Lock()
	defer snapshotCache.Unlock()
	if c, ok := snapshotCache.m[path]; ok && c.size == st.Size() && c.mod.Equal(st.ModTime()) {
		return c.snap, nil
	}
	s, err := snapshot.ReadFile(path)
	if err != nil {
		return nil, err
	}
	snapshotCache.m[path] = cachedSnapshot{size: st.Size(), mod: st.ModTime(), snap: s}
	return s, nil
}
