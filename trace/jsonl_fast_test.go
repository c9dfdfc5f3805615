package trace

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// TestCanonicalLines checks that the reader's fast path for canonical lines
// (parseCanonical) gives exactly the events and errors of the JSON parser's
// path, on canonical lines, near misses that the fast path must leave to
// the parser, and invalid lines.
func TestCanonicalLines(t *testing.T) {
	lines := []string{
		`{"op":"alloc","id":0,"size":512}`,
		`{"op":"alloc","id":1,"size":1,"stream":7}`,
		`{"op":"alloc","id":2,"size":3,"stream":-7,"tag":"activation"}`,
		`{"op":"alloc","id":3,"size":3,"tag":"weight","pool":2}`,
		`{"op":"alloc","id":4,"size":3,"stream":1,"tag":"","pool":0}`,
		`{"op":"alloc","id":5,"size":3,"tag":"a b-c.d"}`,
		`{"op":"free","id":0}`,
		`{"op":"free","id":0}`,              // unknown id now
		`{"op":"alloc","id":1,"size":8}`,    // still live
		`{"op":"alloc","id":9,"size":0}`,    // size 0: the parser's error
		`{"op":"alloc","id":10,"size":-1}`,  // negative size
		`{"op":"alloc","id":-1,"size":8}`,   // negative id
		`{"op":"alloc","id":011,"size":8}`,  // leading zero
		`{"op":"alloc","id":12,"size":08}`,  // leading zero
		`{"op":"alloc","id":13,"size":8e2}`, // exponent
		`{"op":"alloc","id":14,"size":16.0}`,
		`{"op":"alloc","id":15,"size":8,"stream":-0}`,
		`{"op":"alloc","id":16,"size":8,"stream":1.5}`,
		`{"op":"alloc","id":17,"size":8,"tag":"caf\u00e9"}`,
		`{"op":"alloc","id":18,"size":8,"tag":"café"}`,
		`{"op":"alloc","id":19,"size":8,"tag":"a\"b"}`,
		`{"op":"alloc","id":20,"size":8,"pool":-1}`,
		`{"op":"alloc","id":21,"size":8,"pool":1,"stream":2}`, // other order
		`{"op":"alloc","id":22,"size":8,"size":9}`,            // duplicate key
		`{"op":"alloc","id":23,"size":8,"x":1}`,               // unknown key
		`{"op":"alloc","id":24,"size":8} `,                    // trailing space
		`{"op":"alloc","id":25,"size":8}}`,
		`{"op":"alloc","id":26,"size":8`,
		`{"op":"alloc","id":27,"size":1234567890123456789}`,  // 19 digits
		`{"op":"alloc","id":28,"size":99999999999999999999}`, // overflow
		`{"op":"alloc","id":29,"size":123456789012345678}`,   // 18 digits
		`{"op":"alloc","id":30,"size":8,"tag":"x","tag":"y"}`,
		`{"op":"alloc", "id":31,"size":8}`,
		`{"op":"free","id":29}`,
		`{"op":"free","id":-0}`,
		`{"op":"free","id":1,"x":2}`,
		`{"op":"free","id":"1"}`,
		`{"op":"free","id":2 }`,
		`{"op":"free_requested","id":3}`,
		`{"op":"free","id":3}`,
		`{"op":"empty_cache"}`,
	}
	// random canonical lines and random corruptions of them
	rng := rand.New(rand.NewSource(3))
	var live []int64
	for id := int64(100); id < 3000; id++ {
		if len(live) > 0 && rng.Intn(2) == 0 {
			j := rng.Intn(len(live))
			lines = append(lines, fmt.Sprintf(`{"op":"free","id":%d}`, live[j]))
			live = append(live[:j], live[j+1:]...)
			continue
		}
		l := fmt.Sprintf(`{"op":"alloc","id":%d,"size":%d`, id, 1+rng.Int63n(1<<40))
		if rng.Intn(3) == 0 {
			l += fmt.Sprintf(`,"stream":%d`, rng.Int63n(9)-4)
		}
		if rng.Intn(3) == 0 {
			l += `,"tag":"` + []string{"activation", "weight", "", "kv"}[rng.Intn(4)] + `"`
		}
		if rng.Intn(3) == 0 {
			l += fmt.Sprintf(`,"pool":%d`, rng.Intn(3))
		}
		l += "}"
		if rng.Intn(10) == 0 {
			b := []byte(l)
			const junk = "0-9\"}{,: e.a\\"
			b[rng.Intn(len(b))] = junk[rng.Intn(len(junk))]
			l = string(b)
		}
		lines = append(lines, l)
		live = append(live, id)
	}
	// Each line is read on its own after the lines before it (a reader
	// stops at its first error): compare line by line with fresh readers
	// that have read the same valid prefix.
	fast := NewJSONLReader(strings.NewReader(""), "t")
	slow := NewJSONLReader(strings.NewReader(""), "t")
	slow.jsonOnly = true
	for i, l := range lines {
		fast.line, slow.line = i+1, i+1
		fe, ferr := fast.parse([]byte(l))
		se, serr := slow.parse([]byte(l))
		if fe != se || fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Fatalf("line %d %s:\nfast %+v, %v\njson %+v, %v", i+1, l, fe, ferr, se, serr)
		}
		if fast.live.len() != slow.live.len() {
			t.Fatalf("line %d: live ids %d, json path %d", i+1, fast.live.len(), slow.live.len())
		}
	}
	if a, b := fastTags(fast), fastTags(slow); a != b {
		t.Fatalf("tags differ: %s vs %s", a, b)
	}
	var e *Error
	if _, err := fast.parse([]byte(`{"op":"free","id":1234567}`)); !errors.As(err, &e) {
		t.Fatalf("free of an unknown id: %v", err)
	}
}

func fastTags(r *JSONLReader) string {
	return fmt.Sprint(r.tags.names)
}
