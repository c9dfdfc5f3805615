// Package snapshot imports and exports PyTorch CUDA memory snapshots, the
// pickles that torch.cuda.memory._dump_snapshot() writes, safely.
//
// Read decodes a snapshot into typed structs (Snapshot, Segment, Block,
// TraceEntry, Frame, Settings). Snapshot.Workload turns one device's trace
// into a fraglab workload: alloc, free and empty_cache events, the allocator
// state at the first event (rewound from the final segments for traces that
// start mid-run), the recorded segment entries and OOMs to check a replay
// against, and what the trace says about the device's capacity. Verify checks
// such a workload against its snapshot. Write encodes a Snapshot as a pickle
// that Python, torch.cuda._memory_viz and pytorch.org/memory_viz read.
// docs/snapshots.md describes the rules.
//
// # Safe decoding
//
// A snapshot holds only dicts, lists, str, int, float, bool, None and one
// tuple per segment, so nothing in it needs a Python global. Read refuses
// every pickle that has one, and more broadly every opcode that builds
// anything else (GLOBAL, STACK_GLOBAL, INST, OBJ, REDUCE, BUILD, NEWOBJ,
// NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID, bytes, bytearray, sets and
// out-of-band buffers), before any object is built:
//
//	FILE: refusing pickle global os.system: snapshots contain only plain data
//
// Decoding is two steps. A scanner in this package first walks the opcode
// stream: every opcode must be known, every inline argument and length must
// lie inside the input, memo references must name stored entries, integers
// must fit 64 bits and the stream must end in STOP. Only then is the pickle
// decoded, by github.com/nlpodyssey/gopickle v0.2.0, with its FindClass hook
// refusing every class as a second line of defence.
//
// # Why gopickle
//
// Both well-kept Go pickle libraries were evaluated on the real snapshots of
// shared/traces/pytorch and on hostile inputs:
//
//   - github.com/kisielk/og-rek v1.3.0 decodes protocols 0–5 and is careful
//     with hostile lengths, but it has no hook to refuse a global: GLOBAL and
//     STACK_GLOBAL become inert ogórek.Class values (and REDUCE a Call), so
//     refusing means walking the result, and a global whose value is popped
//     is never seen. Worse, it decodes shared lists wrongly: a list stored in
//     the memo before APPENDS fills it comes back empty when referenced
//     again, because the memo keeps the slice header of the empty list.
//     Python's pickler writes exactly that for every list, and PyTorch's
//     files share frame lists among trace entries: og-rek returns 351,966
//     frames for expandable-4gpu-oom.pickle where Python returns 540,414.
//     It also lacks BINUNICODE8.
//   - github.com/nlpodyssey/gopickle v0.2.0 decodes protocols 0–5, keeps
//     shared lists shared (lists are pointers), and asks a FindClass hook for
//     every GLOBAL, STACK_GLOBAL and INST, which is the refusal point
//     Python's own Unpickler.find_class gives. Its weak spots are covered by
//     the scanner: it trusts length fields (a 12-byte pickle announcing a
//     1 TiB FRAME makes it allocate 1 TiB and the process dies), panics on
//     opcode 0xff and on an empty LONG1, and three names
//     (collections.OrderedDict, __builtin__.object, copy_reg._reconstructor)
//     bypass FindClass. Read also recovers from any panic of the decoder.
//
// gopickle is the one whose result is correct and whose refusal hook sits
// where Python's does; with the scanner in front, refusing is reliable.
//
// Converting decoded values to structs shares every converted list and dict,
// so memo references cannot blow up the work (PyTorch's own files reference
// one frame list from many entries, and Read keeps that sharing).
package snapshot
