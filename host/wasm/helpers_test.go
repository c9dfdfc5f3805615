package wasm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/trace"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

// wat compiles testdata/<name>.wat with wat2wasm into a temporary directory
// and returns the module's bytes. The fixtures' .wasm files are never
// committed: the .wat text is the fixture.
func wat(t testing.TB, name string) []byte {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not found: apt-get install wabt")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command(tool, filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm testdata/%s.wat: %v\n%s", name, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// compile compiles and validates fixture name, failing the test if the host
// refuses it.
func compile(t testing.TB, name string) *wasm.Module {
	t.Helper()
	m, err := wasm.Compile(context.Background(), name, wat(t, name))
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return m
}

// simAllocator returns an allocator over in on a fresh sim device, with
// in's stats attached, and do, which runs f as the next event (numbered
// from 0) and fails t when f fails.
func simAllocator(t *testing.T, in *wasm.Instance) (a *host.Allocator, do func(f func() error)) {
	a = host.New(cudadriver.NewSim(cudadriver.SimOptions{}), in, host.Options{})
	in.AttachStats(a.Stat)
	ev := int64(0)
	do = func(f func() error) {
		t.Helper()
		a.SetEvent(ev)
		ev++
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	return a, do
}

// instantiate starts an instance of fixture name; it is closed when the
// test ends.
func instantiate(t testing.TB, name string, cfg wasm.Config) *wasm.Instance {
	t.Helper()
	in, err := compile(t, name).Instantiate(context.Background(), cfg)
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// builtin compiles a built-in policy.
func builtin(t testing.TB, name string) *wasm.Module {
	t.Helper()
	bin, ok := policies.Builtin(name)
	if !ok {
		t.Fatalf("no built-in policy %q", name)
	}
	m, err := wasm.Compile(context.Background(), name, bin)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// jsonl is a trace of the given JSON Lines events.
func jsonl(lines ...string) trace.Reader {
	return trace.NewJSONLReader(strings.NewReader(strings.Join(lines, "\n")+"\n"), "test.jsonl")
}

// replayJSONL replays the events through fixture name on a sim device of
// the given capacity (0: unlimited), checking the allocator's invariants.
func replayJSONL(t testing.TB, name string, capacity int64, lines ...string) (*replay.Result, error) {
	t.Helper()
	return replay.Run(context.Background(), jsonl(lines...), compile(t, name),
		cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), replay.Options{CheckInvariants: true})
}

// global reads an exported i64 global of the instance.
func global(t testing.TB, in *wasm.Instance, name string) int64 {
	t.Helper()
	v, ok := in.Global(name)
	if !ok {
		t.Fatalf("the module exports no global %q", name)
	}
	return int64(v)
}

// loadError asserts err is a *wasm.LoadError for module name whose message
// contains every want.
func loadError(t *testing.T, err error, name string, want ...string) {
	t.Helper()
	var le *wasm.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %T %v, want a *wasm.LoadError", err, err)
	}
	if le.Module != name {
		t.Errorf("LoadError.Module = %q, want %q", le.Module, name)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "policy "+name+": ") {
		t.Errorf("message %q does not start with %q", msg, "policy "+name+": ")
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message\n\t%s\ndoes not contain\n\t%s", msg, w)
		}
	}
}
