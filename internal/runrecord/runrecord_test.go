package runrecord

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/replay"
)

func TestWriteReadDir(t *testing.T) {
	dir := t.TempDir()
	minCap := int64(128 << 20)
	recs := []*Record{
		{ID: "b2", Workload: "w", Policy: "pytorch", Status: StatusOK, Metrics: &replay.Metrics{PeakReserved: 1 << 30, Events: 10}, MinCapacity: &minCap,
			Timeline: &Timeline{Event: []int64{0, 9}, Reserved: []int64{0, 1 << 30}, Allocated: []int64{0, 1}, Requested: []int64{0, 1}}},
		{ID: "a1", Workload: "w", Policy: "buddy", Status: StatusFailed, Error: "policy hung"},
	}
	for _, r := range recs {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], recs[1]) || !reflect.DeepEqual(got[1], recs[0]) {
		t.Errorf("read back %+v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte(`{"id":"x","status":"maybe"}`), 0o644)
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), `junk.json: not a run record (no id or unknown status "maybe")`) {
		t.Errorf("ReadDir with a bad file: %v", err)
	}
}
