package snapshot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fraglab/fraglab/internal/sharedtraces"
)

func TestWriteRoundTripSynthetic(t *testing.T) {
	s := syntheticSnapshot()
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(b.Bytes()), "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip changed the snapshot:\ngot  %+v\nwant %+v", got, s)
	}
	// Writing what was read gives the same bytes.
	var b2 bytes.Buffer
	if err := Write(&b2, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), b2.Bytes()) {
		t.Error("Write is not deterministic")
	}
}

// memoryVizOpcodes are the opcodes the unpickler of pytorch.org/memory_viz
// (torch/utils/viz/MemoryViz.js) handles; it throws on any other.
var memoryVizOpcodes = map[byte]bool{
	opProto: true, opFrame: true, opStop: true, opMark: true, opMemoize: true,
	opBinPut: true, opLongBinPut: true, opBinGet: true, opLongBinGet: true,
	opEmptyDict: true, opDict: true, opSetItem: true, opSetItems: true,
	opEmptyList: true, opList: true, opAppend: true, opAppends: true,
	opEmptyTuple: true, opTuple: true, opTuple1: true, opTuple2: true, opTuple3: true,
	opShortBinUni: true, opBinUnicode: true,
	opBinInt: true, opBinInt1: true, opBinInt2: true, opLong1: true, opBinFloat: true,
	opNewTrue: true, opNewFalse: true, opNone: true,
}

func TestWriteUsesOnlyMemoryVizOpcodes(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, syntheticSnapshot()); err != nil {
		t.Fatal(err)
	}
	if b.Bytes()[1] != 4 {
		t.Errorf("protocol %d, want 4", b.Bytes()[1])
	}
	bad := map[string]bool{}
	if _, err := scanPickle(b.Bytes(), func(op byte) {
		if !memoryVizOpcodes[op] {
			bad[opTable[op].name] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("Write uses opcodes memory_viz cannot read: %v", bad)
	}
}

func TestWriteRefusesUnknownSettingTypes(t *testing.T) {
	s := syntheticSnapshot()
	s.Settings.Other["x"] = struct{}{}
	if err := Write(&bytes.Buffer{}, s); err == nil {
		t.Error("no error for a struct setting")
	}
}

// TestPythonReadsWrittenSnapshots loads what Write writes with Python's own
// pickle module (skipped without python3).
func TestPythonReadsWrittenSnapshots(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: skipping the check that Python's pickle.load reads written snapshots")
	}
	dir := t.TempDir()
	files := map[string]*Snapshot{"synthetic.pickle": syntheticSnapshot()}
	if shared := sharedtraces.Lookup(); shared != "" {
		for _, name := range []string{"tiny-grad.pickle", "small-clean-start.pickle"} {
			s, err := ReadFile(filepath.Join(shared, name))
			if err != nil {
				t.Fatal(err)
			}
			files["rt-"+name] = s
		}
	}
	for name, s := range files {
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", "import pickle,sys; d=pickle.load(open(sys.argv[1],'rb')); assert set(d)>={'segments','device_traces'}", path).CombinedOutput()
		if err != nil {
			t.Errorf("%s: python3 could not load it: %v\n%s", name, err, out)
		}
	}
	// Entries' pool_id are tuples, as PyTorch writes them, and only where
	// the entry has one.
	poolIDs := `
import pickle, sys
t = pickle.load(open(sys.argv[1], 'rb'))['device_traces'][0]
assert t[0]['pool_id'] == (0, 0) and 'pool_id' not in t[1] and t[2]['pool_id'] == (2**64 - 1, 7), [e.get('pool_id') for e in t]
`
	if out, err := exec.Command(py, "-c", poolIDs, filepath.Join(dir, "synthetic.pickle")).CombinedOutput(); err != nil {
		t.Errorf("synthetic.pickle: entries' pool_id: %v\n%s", err, out)
	}
	// The committed fixtures too, and the handwritten one decodes to what
	// Read reports.
	check := `
import pickle, sys
d = pickle.load(open(sys.argv[1], 'rb'))
s = d['segments'][0]
assert s['address'] == 0x7f0000000000 and s['segment_pool_id'] == (0, 0) and s['is_expandable'] is False
t = d['device_traces'][0]
assert t[0]['frames'] is t[1]['frames'] and t[1]['frames'][0]['name'] == 'forward'
`
	if out, err := exec.Command(py, "-c", check, filepath.Join("testdata", "proto2-handwritten.pickle")).CombinedOutput(); err != nil {
		t.Errorf("proto2-handwritten.pickle: %v\n%s", err, out)
	}
	for _, bad := range []string{"bad-toplist.pickle", "bad-string-size.pickle"} {
		if out, err := exec.Command(py, "-c", "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))", filepath.Join("testdata", bad)).CombinedOutput(); err != nil {
			t.Errorf("%s is not even a valid pickle: %v\n%s", bad, err, out)
		}
	}
}
