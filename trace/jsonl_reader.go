package trace

import (
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// MaxLineBytes is the longest line a JSONLReader accepts.
const MaxLineBytes = 1 << 20

// Keys allowed for each op, in the order error messages list them.
var (
	allocKeys         = []string{"op", "id", "size", "stream", "tag", "pool"}
	freeKeys          = []string{"op", "id"}
	freeRequestedKeys = []string{"op", "id"}
	emptyCacheKeys    = []string{"op", "pool"}
	releasePoolKeys   = []string{"op", "pool"}
)

const (
	opNames  = `"alloc", "free", "free_requested", "empty_cache" or "release_pool"`
	sizeRule = "size must be a positive integer of bytes"
	// allocPoolRule and releasePoolRule say what a "pool" must be.
	allocPoolRule   = "a non-negative integer (0 is the default pool, private pools are 1 and up)"
	releasePoolRule = "a private pool id, an integer of 1 or more (0 is the default pool, which is never released)"
	// emptyCachePoolRule says what the "pool" of an empty_cache must be.
	emptyCachePoolRule = "a non-negative integer (0 or none empties the whole cache, 1 and up only that private pool)"
)

// JSONLReader reads a trace in the JSON Lines format. It validates every
// line and keeps the set of live allocation ids, so its memory grows with
// the number of live allocations only.
type JSONLReader struct {
	lineReader
	parser  fastjson.Parser
	tags    *Tags
	live    liveIDs // live id -> line of its alloc
	evLine  int     // line of the last event returned
	scratch []byte  // raw text of the number being parsed
	err     error   // sticky error
	// jsonOnly: every line goes through the JSON parser (tests compare
	// parseCanonical with it)
	jsonOnly bool
}

// NewJSONLReader returns a reader of the trace in r. file names the trace in
// error messages and may be empty.
func NewJSONLReader(r io.Reader, file string) *JSONLReader {
	return &JSONLReader{lineReader: newLineReader(r, file), tags: NewTags(), live: newLiveIDs()}
}

// Tags returns the registry naming the Tag ids of the events read so far.
func (r *JSONLReader) Tags() *Tags { return r.tags }

// Line returns the line of the last event returned by Next.
func (r *JSONLReader) Line() int { return r.evLine }

// Live returns the number of live allocations.
func (r *JSONLReader) Live() int { return r.live.len() }

// Next returns the next event, io.EOF at the end of the trace, or an *Error
// for an invalid line. Errors are sticky: later calls return the same one.
func (r *JSONLReader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	b, err := r.nextLine()
	if err == nil {
		var e Event
		if e, err = r.parse(b); err == nil {
			r.evLine = r.line
			return e, nil
		}
	}
	r.err = err
	return Event{}, err
}

func (r *JSONLReader) parse(b []byte) (Event, error) {
	if !r.jsonOnly {
		if e, err, ok := r.parseCanonical(b); ok {
			return e, err
		}
	}
	v, err := r.parser.ParseBytes(b)
	if err != nil {
		return Event{}, r.fail("malformed JSON (expected one object per line): %v", err)
	}
	o, err := v.Object()
	if err != nil {
		return Event{}, r.fail(`expected a JSON object such as {"op":"free","id":0}, got %s`, show(v))
	}
	op := o.Get("op")
	if op == nil {
		return Event{}, r.fail(`missing "op": expected %s`, opNames)
	}
	name, err := op.StringBytes()
	if err != nil {
		return Event{}, r.fail(`"op" must be a string: %s, got %s`, opNames, show(op))
	}
	switch string(name) {
	case "alloc":
		return r.alloc(o)
	case "free":
		return r.free(o)
	case "free_requested":
		return r.freeRequested(o)
	case "release_pool":
		return r.releasePool(o)
	case "empty_cache":
		return r.emptyCache(o)
	}
	return Event{}, r.fail(`unknown op %s: expected %s`, show(op), opNames)
}

func (r *JSONLReader) alloc(o *fastjson.Object) (Event, error) {
	idv, sizev, streamv, tagv, poolv := o.Get("id"), o.Get("size"), o.Get("stream"), o.Get("tag"), o.Get("pool")
	if err := r.checkKeys(o, count(idv, sizev, streamv, tagv, poolv)+1, "alloc", allocKeys); err != nil {
		return Event{}, err
	}
	id, err := r.id(idv, "alloc")
	if err != nil {
		return Event{}, err
	}
	if sizev == nil {
		return Event{}, r.fail(`alloc is missing "size": %s`, sizeRule)
	}
	size, ok := r.integer(sizev)
	if !ok || size <= 0 {
		return Event{}, r.fail(`"size" is %s: %s`, show(sizev), sizeRule)
	}
	var stream int64
	if streamv != nil {
		if stream, ok = r.integer(streamv); !ok {
			return Event{}, r.fail(`"stream" must be an integer, got %s`, show(streamv))
		}
	}
	var tag []byte
	if tagv != nil {
		if tag, err = tagv.StringBytes(); err != nil {
			return Event{}, r.fail(`"tag" must be a string such as "activation", got %s`, show(tagv))
		}
	}
	var pool int64
	if poolv != nil {
		if pool, ok = r.integer(poolv); !ok || pool < 0 {
			return Event{}, r.fail(`"pool" must be %s, got %s`, allocPoolRule, show(poolv))
		}
	}
	return r.allocEvent(id, size, stream, tag, pool)
}

// allocEvent is the alloc event of a line whose fields are valid, once its
// id is checked against the live ids.
func (r *JSONLReader) allocEvent(id, size, stream int64, tag []byte, pool int64) (Event, error) {
	if at, pending, dup := r.live.add(id, int64(r.line)); dup {
		if pending {
			return Event{}, r.fail("alloc of id %d, whose free was requested at line %d but has not completed: the id is live until its free", id, at)
		}
		return Event{}, r.fail("alloc of id %d, which is still live (allocated at line %d)", id, at)
	}
	return Event{Op: OpAlloc, ID: id, Size: size, Stream: stream, Tag: r.tags.idBytes(tag), Pool: pool}, nil
}

func (r *JSONLReader) free(o *fastjson.Object) (Event, error) {
	idv := o.Get("id")
	if err := r.checkKeys(o, count(idv)+1, "free", freeKeys); err != nil {
		return Event{}, err
	}
	id, err := r.id(idv, "free")
	if err != nil {
		return Event{}, err
	}
	return r.freeEvent(id)
}

// freeEvent is the free event of a valid id, once it is checked against
// the live ids.
func (r *JSONLReader) freeEvent(id int64) (Event, error) {
	if !r.live.remove(id) {
		return Event{}, r.fail("free of unknown id %d: no live allocation has this id", id)
	}
	return Event{Op: OpFree, ID: id}, nil
}

func (r *JSONLReader) freeRequested(o *fastjson.Object) (Event, error) {
	idv := o.Get("id")
	if err := r.checkKeys(o, count(idv)+1, "free_requested", freeRequestedKeys); err != nil {
		return Event{}, err
	}
	id, err := r.id(idv, "free_requested")
	if err != nil {
		return Event{}, err
	}
	at, live, pending := r.live.request(id, int64(r.line))
	switch {
	case !live:
		return Event{}, r.fail("free_requested of unknown id %d: no live allocation has this id", id)
	case pending:
		return Event{}, r.fail("free_requested of id %d, whose free was already requested at line %d", id, at)
	}
	return Event{Op: OpFreeRequested, ID: id}, nil
}

func (r *JSONLReader) releasePool(o *fastjson.Object) (Event, error) {
	poolv := o.Get("pool")
	if err := r.checkKeys(o, count(poolv)+1, "release_pool", releasePoolKeys); err != nil {
		return Event{}, err
	}
	if poolv == nil {
		return Event{}, r.fail(`release_pool is missing "pool": expected %s`, releasePoolRule)
	}
	pool, ok := r.integer(poolv)
	if !ok || pool < 1 {
		return Event{}, r.fail(`"pool" of release_pool must be %s, got %s`, releasePoolRule, show(poolv))
	}
	return Event{Op: OpReleasePool, Pool: pool}, nil
}

func (r *JSONLReader) emptyCache(o *fastjson.Object) (Event, error) {
	poolv := o.Get("pool")
	if err := r.checkKeys(o, count(poolv)+1, "empty_cache", emptyCacheKeys); err != nil {
		return Event{}, err
	}
	var pool int64
	if poolv != nil {
		var ok bool
		if pool, ok = r.integer(poolv); !ok || pool < 0 {
			return Event{}, r.fail(`"pool" of empty_cache must be %s, got %s`, emptyCachePoolRule, show(poolv))
		}
	}
	return Event{Op: OpEmptyCache, Pool: pool}, nil
}

func (r *JSONLReader) id(v *fastjson.Value, op string) (int64, error) {
	if v == nil {
		return 0, r.fail(`%s is missing "id": expected a non-negative integer`, op)
	}
	id, ok := r.integer(v)
	if !ok || id < 0 {
		return 0, r.fail(`"id" must be a non-negative integer, got %s`, show(v))
	}
	return id, nil
}

// checkKeys reports the first key of o that op does not allow, or that
// appears twice. want is the number of allowed keys o holds: o is fine when
// it has no other key.
func (r *JSONLReader) checkKeys(o *fastjson.Object, want int, op string, allowed []string) error {
	if o.Len() == want {
		return nil
	}
	var err error
	seen := make(map[string]bool, o.Len())
	o.Visit(func(key []byte, _ *fastjson.Value) {
		k := string(key)
		switch {
		case err != nil:
		case !slices.Contains(allowed, k):
			err = r.fail("unknown key %q for op %q: allowed keys are %s", k, op, quoteAll(allowed))
		case seen[k]:
			err = r.fail("duplicate key %q", k)
		}
		seen[k] = true
	})
	return err
}

func quoteAll(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}

// integer returns the value of v when it is a number denoting an exact
// int64.
func (r *JSONLReader) integer(v *fastjson.Value) (int64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	r.scratch = v.MarshalTo(r.scratch[:0])
	return parseInt(r.scratch)
}

func count(vs ...*fastjson.Value) int {
	n := 0
	for _, v := range vs {
		if v != nil {
			n++
		}
	}
	return n
}

// show renders v for an error message, shortened when long.
func show(v *fastjson.Value) string {
	b := v.MarshalTo(nil)
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

// parseInt parses a JSON number that must denote an exact int64. A fraction
// or exponent is allowed when the value is still an integer: 1e3 and 16.0
// are accepted, 1.5 and 1e-3 are not.
func parseInt(s []byte) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	i := digits(s)
	intPart := s[:i]
	if len(intPart) == 0 {
		return 0, false
	}
	var frac []byte
	if i < len(s) && s[i] == '.' {
		n := digits(s[i+1:])
		if n == 0 {
			return 0, false
		}
		frac = s[i+1 : i+1+n]
		i += 1 + n
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		n := digits(s[i:])
		if n == 0 {
			return 0, false
		}
		for _, c := range s[i : i+n] {
			exp = min(exp*10+int(c-'0'), 1<<20) // larger exponents mean overflow or zero anyway
		}
		i += n
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return 0, false
	}
	// The value is the digits of intPart and frac times 10^(exp-len(frac)).
	digit := func(k int) uint64 {
		if k < len(intPart) {
			return uint64(intPart[k] - '0')
		}
		return uint64(frac[k-len(intPart)] - '0')
	}
	n, shift := len(intPart)+len(frac), exp-len(frac)
	if shift < 0 { // the dropped digits must all be zeros
		keep := max(n+shift, 0)
		for k := keep; k < n; k++ {
			if digit(k) != 0 {
				return 0, false
			}
		}
		n, shift = keep, 0
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit++
	}
	var u uint64
	for k := range n {
		d := digit(k)
		if u > (limit-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	for ; shift > 0 && u != 0; shift-- {
		if u > limit/10 {
			return 0, false
		}
		u *= 10
	}
	if neg {
		return int64(-u), true
	}
	return int64(u), true
}

func digits(s []byte) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// parseCanonical reads the lines of the forms JSONLWriter writes, by far
// the most common, without a JSON parser: {"op":"alloc","id":I,"size":S}
// with optional ,"stream":N ,"tag":"T" and ,"pool":P in that order, and
// {"op":"free","id":I}, where I, S and P are plain decimal integers
// (no sign, no leading zero, at most 18 digits), N is one that may have a
// minus sign, T has no escape and no control byte, and nothing else is on
// the line. ok is false for any other line, and for a size of 0: the JSON
// parser then reads it and makes its errors. An accepted line gives the
// event, or the error, that the parser's path gives.
func (r *JSONLReader) parseCanonical(b []byte) (e Event, err error, ok bool) {
	const allocHead, freeHead = `{"op":"alloc","id":`, `{"op":"free","id":`
	switch {
	case hasPrefix(b, freeHead):
		id, rest, ok := canonicalInt(b[len(freeHead):], false)
		if !ok || string(rest) != "}" {
			return Event{}, nil, false
		}
		e, err := r.freeEvent(id)
		return e, err, true
	case !hasPrefix(b, allocHead):
		return Event{}, nil, false
	}
	id, rest, ok := canonicalInt(b[len(allocHead):], false)
	if !ok || !hasPrefix(rest, `,"size":`) {
		return Event{}, nil, false
	}
	size, rest, ok := canonicalInt(rest[len(`,"size":`):], false)
	if !ok || size == 0 {
		return Event{}, nil, false
	}
	var stream, pool int64
	var tag []byte
	if hasPrefix(rest, `,"stream":`) {
		if stream, rest, ok = canonicalInt(rest[len(`,"stream":`):], true); !ok {
			return Event{}, nil, false
		}
	}
	if hasPrefix(rest, `,"tag":"`) {
		rest = rest[len(`,"tag":"`):]
		n := 0
		for n < len(rest) && rest[n] >= 0x20 && rest[n] < 0x7f && rest[n] != '"' && rest[n] != '\\' {
			n++
		}
		if n == len(rest) || rest[n] != '"' {
			return Event{}, nil, false
		}
		tag, rest = rest[:n], rest[n+1:]
	}
	if hasPrefix(rest, `,"pool":`) {
		if pool, rest, ok = canonicalInt(rest[len(`,"pool":`):], false); !ok {
			return Event{}, nil, false
		}
	}
	if string(rest) != "}" {
		return Event{}, nil, false
	}
	e, err = r.allocEvent(id, size, stream, tag, pool)
	return e, err, true
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// canonicalInt reads a plain decimal integer at the start of b: 0 or a
// non-zero digit and at most 17 more, with a minus sign first when signed
// allows it (not before 0). It returns the value and the rest of b.
func canonicalInt(b []byte, signed bool) (int64, []byte, bool) {
	neg := signed && len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n := digits(b)
	if n == 0 || n > 18 || (b[0] == '0' && (n > 1 || neg)) {
		return 0, nil, false
	}
	var v int64
	for _, c := range b[:n] {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, b[n:], true
}
