package runner

import (
	"errors"
	"strings"
	"testing"
)

// TestWorkerExitsWhenItsLifelineEnds: a worker whose sweep goes away
// (here: closes the lifeline, as the kernel does for a sweep that dies)
// exits by itself, even in the middle of a run, without the parent-death
// signal (cleared here: it is Linux's alone).
func TestWorkerExitsWhenItsLifelineEnds(t *testing.T) {
	specs := Specs(load(t, "tiny.yaml"))
	t.Setenv(envSleep, specs[0].ID) // the run sleeps a minute
	o := Options{}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	client, cmd, tail, life := newWorkerClient(&o)
	cmd.SysProcAttr = nil
	defer client.Kill()
	proto, err := client.Client()
	life.started()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Dispense(pluginName)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := raw.(*workerClient).run(&specs[0])
		done <- err
	}()
	life.close()
	err = <-done // the worker's exit ends the call
	reason := exitReason(client, cmd, errors.New("call ended"), tail)
	if err == nil || !strings.HasPrefix(reason, "worker exited with status 4") ||
		!strings.Contains(reason, "the sweep that started this worker is gone") {
		t.Fatalf("call error %v; exit reason %q, want status 4 saying the sweep is gone", err, reason)
	}
}
