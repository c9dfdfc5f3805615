package trace

import "testing"

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpAlloc: "alloc", OpFree: "free", OpEmptyCache: "empty_cache", 9: "op(9)"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", op, got, want)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "a.jsonl", Line: 3, Msg: "bad"}, "a.jsonl:3: bad"},
		{Error{Line: 3, Msg: "bad"}, "line 3: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}
