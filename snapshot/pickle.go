package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
)

// Pickle opcodes (Python's Lib/pickletools.py names).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opExt1           = 0x82
	opExt2           = 0x83
	opExt4           = 0x84
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// argKind is the shape of an opcode's inline argument.
type argKind uint8

const (
	argNone   argKind = iota
	argFixed          // n bytes
	argLine           // one newline-terminated line
	argLines2         // two newline-terminated lines (module, name)
	argLen1           // 1-byte length, then that many bytes
	argLen4           // 4-byte little-endian length, then data
	argLen8           // 8-byte little-endian length, then data
)

// opInfo describes one opcode for the scanner.
type opInfo struct {
	name      string
	arg       argKind
	n         int    // argFixed: argument bytes
	forbidden string // non-empty: refused, and why (what the opcode builds)
	numeric   bool   // argLine holding a number: its length is bounded
}

var opTable [256]*opInfo

func init() {
	def := func(op byte, name string, arg argKind, n int) *opInfo {
		i := &opInfo{name: name, arg: arg, n: n}
		opTable[op] = i
		return i
	}
	forbid := func(i *opInfo, what string) { i.forbidden = what }
	numeric := func(i *opInfo) { i.numeric = true }

	def(opMark, "MARK", argNone, 0)
	def(opStop, "STOP", argNone, 0)
	def(opPop, "POP", argNone, 0)
	def(opPopMark, "POP_MARK", argNone, 0)
	def(opDup, "DUP", argNone, 0)
	numeric(def(opFloat, "FLOAT", argLine, 0))
	numeric(def(opInt, "INT", argLine, 0))
	def(opBinInt, "BININT", argFixed, 4)
	def(opBinInt1, "BININT1", argFixed, 1)
	numeric(def(opLong, "LONG", argLine, 0))
	def(opBinInt2, "BININT2", argFixed, 2)
	def(opNone, "NONE", argNone, 0)
	forbid(def(opPersID, "PERSID", argLine, 0), "a persistent id")
	forbid(def(opBinPersID, "BINPERSID", argNone, 0), "a persistent id")
	forbid(def(opReduce, "REDUCE", argNone, 0), "a call")
	def(opString, "STRING", argLine, 0)
	def(opBinString, "BINSTRING", argLen4, 0)
	def(opShortBinString, "SHORT_BINSTRING", argLen1, 0)
	def(opUnicode, "UNICODE", argLine, 0)
	def(opBinUnicode, "BINUNICODE", argLen4, 0)
	def(opAppend, "APPEND", argNone, 0)
	forbid(def(opBuild, "BUILD", argNone, 0), "object state")
	forbid(def(opGlobal, "GLOBAL", argLines2, 0), "a global")
	def(opDict, "DICT", argNone, 0)
	def(opEmptyDict, "EMPTY_DICT", argNone, 0)
	def(opAppends, "APPENDS", argNone, 0)
	numeric(def(opGet, "GET", argLine, 0))
	def(opBinGet, "BINGET", argFixed, 1)
	forbid(def(opInst, "INST", argLines2, 0), "a global")
	def(opLongBinGet, "LONG_BINGET", argFixed, 4)
	def(opList, "LIST", argNone, 0)
	def(opEmptyList, "EMPTY_LIST", argNone, 0)
	forbid(def(opObj, "OBJ", argNone, 0), "an object")
	numeric(def(opPut, "PUT", argLine, 0))
	def(opBinPut, "BINPUT", argFixed, 1)
	def(opLongBinPut, "LONG_BINPUT", argFixed, 4)
	def(opSetItem, "SETITEM", argNone, 0)
	def(opTuple, "TUPLE", argNone, 0)
	def(opEmptyTuple, "EMPTY_TUPLE", argNone, 0)
	def(opSetItems, "SETITEMS", argNone, 0)
	def(opBinFloat, "BINFLOAT", argFixed, 8)
	def(opProto, "PROTO", argFixed, 1)
	forbid(def(opNewObj, "NEWOBJ", argNone, 0), "an object")
	forbid(def(opExt1, "EXT1", argFixed, 1), "an extension-registry global")
	forbid(def(opExt2, "EXT2", argFixed, 2), "an extension-registry global")
	forbid(def(opExt4, "EXT4", argFixed, 4), "an extension-registry global")
	def(opTuple1, "TUPLE1", argNone, 0)
	def(opTuple2, "TUPLE2", argNone, 0)
	def(opTuple3, "TUPLE3", argNone, 0)
	def(opNewTrue, "NEWTRUE", argNone, 0)
	def(opNewFalse, "NEWFALSE", argNone, 0)
	def(opLong1, "LONG1", argLen1, 0)
	def(opLong4, "LONG4", argLen4, 0)
	forbid(def(opBinBytes, "BINBYTES", argLen4, 0), "bytes")
	forbid(def(opShortBinBytes, "SHORT_BINBYTES", argLen1, 0), "bytes")
	def(opShortBinUni, "SHORT_BINUNICODE", argLen1, 0)
	def(opBinUnicode8, "BINUNICODE8", argLen8, 0)
	forbid(def(opBinBytes8, "BINBYTES8", argLen8, 0), "bytes")
	forbid(def(opEmptySet, "EMPTY_SET", argNone, 0), "a set")
	forbid(def(opAddItems, "ADDITEMS", argNone, 0), "a set")
	forbid(def(opFrozenSet, "FROZENSET", argNone, 0), "a frozenset")
	forbid(def(opNewObjEx, "NEWOBJ_EX", argNone, 0), "an object")
	forbid(def(opStackGlobal, "STACK_GLOBAL", argNone, 0), "a global")
	def(opMemoize, "MEMOIZE", argNone, 0)
	def(opFrame, "FRAME", argFixed, 8)
	forbid(def(opByteArray8, "BYTEARRAY8", argLen8, 0), "a bytearray")
	forbid(def(opNextBuffer, "NEXT_BUFFER", argNone, 0), "an out-of-band buffer")
	forbid(def(opReadOnlyBuffer, "READONLY_BUFFER", argNone, 0), "an out-of-band buffer")
}

// Bounds of the scanner.
const (
	maxNumericLine = 64 // bytes of a text number (INT, LONG, FLOAT, GET, PUT)
	maxIntBytes    = 9  // bytes of a LONG1/LONG4 integer: enough for any uint64
	maxProtocol    = 5
)

// The integers a snapshot holds: PyTorch writes them from 64-bit C++ fields,
// signed (int64_t) or unsigned (size_t, pointers, unsigned long long).
const intRange = "-2**63 … 2**64-1"

var (
	minInt  = big.NewInt(math.MinInt64)
	maxUint = new(big.Int).SetUint64(math.MaxUint64)
)

// longFits reports whether a LONG1/LONG4 argument (little-endian two's
// complement, at most maxIntBytes bytes) lies in intRange. Up to 8 bytes
// always do; a ninth byte must be 0 (an unsigned value of 64 bits) or extend
// the sign of a negative int64.
func longFits(b []byte) bool {
	if len(b) < maxIntBytes {
		return true
	}
	top := b[maxIntBytes-1]
	return top == 0x00 || (top == 0xff && b[maxIntBytes-2]&0x80 != 0)
}

// pickleError is a problem with the pickle stream itself (as opposed to its
// content). Its text is complete: "truncated pickle: …", "refusing …".
type pickleError struct{ msg string }

func (e *pickleError) Error() string { return e.msg }

func pickleErrorf(format string, args ...any) error {
	return &pickleError{msg: fmt.Sprintf(format, args...)}
}

// scanPickle checks the opcode stream of data before anything is decoded:
// every opcode is known, every inline argument and length lies inside data,
// memo references name stored entries, integers lie in intRange, the stream ends
// in STOP, and no opcode builds anything but None, bool, int, float, str,
// list, tuple or dict. It returns the offset just past STOP. visit, when not
// nil, sees every opcode that passes.
//
// The scan exists because the decoder trusts length fields (a 12-byte pickle
// that announces a 1 TiB frame would make it allocate 1 TiB) and because a
// refusal here happens before any object is built, whatever the decoder's own
// hooks do.
func scanPickle(data []byte, visit func(op byte)) (int, error) {
	if len(data) == 0 {
		return 0, pickleErrorf("empty file, expected a pickle")
	}
	var (
		pos     int
		memo    = map[int64]bool{}
		nmemo   int64                // next MEMOIZE index
		strMemo = map[int64][]byte{} // memo entries known to be strings (for naming STACK_GLOBAL)
		recent  [][]byte             // strings pushed by the last two opcodes, for STACK_GLOBAL
		window  [2][]byte            // recent's storage
	)
	recent = window[:0]
	for {
		start := pos
		if pos >= len(data) {
			return 0, pickleErrorf("truncated pickle: ends after %d bytes without STOP", len(data))
		}
		op := data[pos]
		pos++
		info := opTable[op]
		if info == nil {
			return 0, pickleErrorf("corrupt pickle: unknown opcode 0x%02x at byte %d", op, start)
		}
		need := func(n uint64, what string) error {
			if left := uint64(len(data) - pos); n > left {
				return pickleErrorf("truncated pickle: %s at byte %d needs %d bytes of %s, %d left", info.name, start, n, what, left)
			}
			return nil
		}
		var arg []byte
		var lines [2]string
		switch info.arg {
		case argFixed:
			if err := need(uint64(info.n), "argument"); err != nil {
				return 0, err
			}
			arg = data[pos : pos+info.n]
			pos += info.n
		case argLine, argLines2:
			nl := 1
			if info.arg == argLines2 {
				nl = 2
			}
			for k := 0; k < nl; k++ {
				i := bytes.IndexByte(data[pos:], '\n')
				if i < 0 {
					return 0, pickleErrorf("truncated pickle: %s at byte %d has no end of line", info.name, start)
				}
				if info.numeric && i > maxNumericLine {
					return 0, pickleErrorf("corrupt pickle: %s at byte %d has a %d-byte argument", info.name, start, i)
				}
				lines[k] = string(data[pos : pos+i])
				pos += i + 1
			}
		case argLen1, argLen4, argLen8:
			width := map[argKind]int{argLen1: 1, argLen4: 4, argLen8: 8}[info.arg]
			if err := need(uint64(width), "length"); err != nil {
				return 0, err
			}
			var n uint64
			switch width {
			case 1:
				n = uint64(data[pos])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(data[pos:]))
			case 8:
				n = binary.LittleEndian.Uint64(data[pos:])
			}
			pos += width
			if (op == opLong1 || op == opLong4) && n > maxIntBytes {
				return 0, pickleErrorf("corrupt pickle: %s at byte %d holds a %d-byte integer; a memory snapshot has none wider than 64 bits", info.name, start, n)
			}
			if op == opLong1 && n == 0 {
				// A valid encoding of 0, but the decoder indexes its last
				// byte; Python writes 0 as BININT1.
				return 0, pickleErrorf("corrupt pickle: LONG1 at byte %d has no bytes (an empty long is not supported)", start)
			}
			if err := need(n, "data"); err != nil {
				return 0, err
			}
			arg = data[pos : pos+int(n)]
			pos += int(n)
			if (op == opLong1 || op == opLong4) && !longFits(arg) {
				return 0, pickleErrorf("corrupt pickle: %s at byte %d holds an integer outside %s; a memory snapshot has none wider than 64 bits", info.name, start, intRange)
			}
		}

		if info.forbidden != "" {
			return 0, refusal(op, info, start, lines, recent)
		}
		if visit != nil {
			visit(op)
		}

		var pushedString []byte
		isString := false
		switch op {
		case opStop:
			return pos, nil
		case opProto:
			if arg[0] > maxProtocol {
				return 0, pickleErrorf("unsupported pickle protocol %d (at most %d)", arg[0], maxProtocol)
			}
		case opFrame:
			n := binary.LittleEndian.Uint64(arg)
			if left := uint64(len(data) - pos); n > left {
				return 0, pickleErrorf("truncated pickle: FRAME at byte %d announces %d bytes, %d left", start, n, left)
			}
		case opShortBinUni, opBinUnicode, opBinUnicode8, opShortBinString, opBinString:
			pushedString, isString = arg, true
		case opUnicode:
			pushedString, isString = []byte(lines[0]), true
		case opString:
			if len(lines[0]) < 2 || (lines[0][0] != '\'' && lines[0][0] != '"') || lines[0][len(lines[0])-1] != lines[0][0] {
				return 0, pickleErrorf("corrupt pickle: STRING at byte %d is not quoted", start)
			}
			pushedString, isString = []byte(lines[0][1:len(lines[0])-1]), true
		case opInt, opFloat:
			var err error
			if op == opFloat {
				_, err = strconv.ParseFloat(lines[0], 64)
			} else {
				// The decoder reads INT as a Go int: at most 64 bits, signed.
				// Python writes larger ints as LONG.
				_, err = strconv.ParseInt(lines[0], 10, 64)
			}
			if err != nil {
				return 0, pickleErrorf("corrupt pickle: %s at byte %d: bad number %q", info.name, start, lines[0])
			}
		case opLong:
			// Protocols 0 and 1 write every int outside the 32-bit range
			// as LONG text: "L18446744073709551615L".
			n, ok := new(big.Int).SetString(strings.TrimSuffix(lines[0], "L"), 10)
			if !ok {
				return 0, pickleErrorf("corrupt pickle: LONG at byte %d: bad number %q", start, lines[0])
			}
			if n.Cmp(minInt) < 0 || n.Cmp(maxUint) > 0 {
				return 0, pickleErrorf("corrupt pickle: LONG at byte %d holds %s, outside %s; a memory snapshot has none wider than 64 bits", start, n, intRange)
			}
		case opMemoize:
			memo[nmemo] = true
			if len(recent) > 0 {
				strMemo[nmemo] = recent[len(recent)-1]
			}
			nmemo++
		case opPut, opBinPut, opLongBinPut:
			idx, err := memoIndex(op, arg, lines[0])
			if err != nil {
				return 0, pickleErrorf("corrupt pickle: %s at byte %d: %v", info.name, start, err)
			}
			memo[idx] = true
			if len(recent) > 0 {
				strMemo[idx] = recent[len(recent)-1]
			}
		case opGet, opBinGet, opLongBinGet:
			idx, err := memoIndex(op, arg, lines[0])
			if err != nil || !memo[idx] {
				return 0, pickleErrorf("corrupt pickle: %s at byte %d refers to memo entry %s, which was never stored", info.name, start, memoText(op, arg, lines[0]))
			}
			if s, ok := strMemo[idx]; ok {
				pushedString, isString = s, true
			}
		}
		switch {
		case isString:
			if len(recent) == 2 {
				window[0] = window[1]
				recent = window[:1]
			}
			recent = append(recent, pushedString)
		case op == opMemoize || op == opPut || op == opBinPut || op == opLongBinPut || op == opFrame:
			// keep: they do not push
		default:
			recent = recent[:0]
		}
	}
}

func memoIndex(op byte, arg []byte, line string) (int64, error) {
	switch op {
	case opBinPut, opBinGet:
		return int64(arg[0]), nil
	case opLongBinPut, opLongBinGet:
		return int64(binary.LittleEndian.Uint32(arg)), nil
	}
	return strconv.ParseInt(line, 10, 64)
}

func memoText(op byte, arg []byte, line string) string {
	idx, err := memoIndex(op, arg, line)
	if err != nil {
		return strconv.Quote(line)
	}
	return strconv.FormatInt(idx, 10)
}

// refusal is the error for a forbidden opcode. Globals are named where the
// stream names them: GLOBAL and INST carry "module\nname", and STACK_GLOBAL
// takes the two strings pushed just before it (Python's pickler writes them
// right there).
func refusal(op byte, info *opInfo, at int, lines [2]string, recent [][]byte) error {
	switch op {
	case opGlobal, opInst:
		return pickleErrorf("refusing pickle global %s.%s: snapshots contain only plain data", lines[0], lines[1])
	case opStackGlobal:
		if len(recent) == 2 {
			return pickleErrorf("refusing pickle global %s.%s: snapshots contain only plain data", recent[0], recent[1])
		}
		return pickleErrorf("refusing pickle global (STACK_GLOBAL at byte %d): snapshots contain only plain data", at)
	}
	return pickleErrorf("refusing pickle opcode %s at byte %d (%s): snapshots contain only plain data", info.name, at, info.forbidden)
}

// errRefusedClass is returned by the decoder's FindClass hook. The scanner
// refuses every global before decoding starts, so it is never seen unless the
// two disagree; it is kept as a second line of defence.
var errRefusedClass = errors.New("refusing pickle global")

// decodePickle scans data and then decodes it with gopickle, refusing every
// class lookup. The result holds only nil, bool, int, *big.Int, float64,
// string, *types.List, *types.Tuple and *types.Dict.
func decodePickle(data []byte) (v any, err error) {
	end, err := scanPickle(data, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, pickleErrorf("corrupt pickle: the decoder failed: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(data[:end]))
	u.FindClass = func(module, name string) (any, error) {
		return nil, fmt.Errorf("%w %s.%s: snapshots contain only plain data", errRefusedClass, module, name)
	}
	v, err = u.Load()
	if err != nil {
		if errors.Is(err, errRefusedClass) {
			return nil, &pickleError{msg: err.Error()}
		}
		return nil, pickleErrorf("corrupt pickle: %v", err)
	}
	return v, nil
}
