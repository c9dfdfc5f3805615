// Package host is the mechanism of a caching GPU-memory allocator, with
// every decision delegated to a Policy.
//
// An Allocator owns segments obtained from a cudadriver.Device, splits them
// into blocks, keeps free blocks in indexes per (pool, stream) ordered by
// (size, address) and by address, merges freed neighbours, grows (new
// classic segments or mapped pages of expandable segments), releases cached
// memory when the device is full, and keeps byte counters incrementally.
//
// Where each decision is made and carried out:
//
//	decision          asked in (decide.go)   carried out in
//	round the size    roundSize              Alloc
//	choose the pool   choosePool             Alloc
//	search order      searchOrder            findBlock, collect
//	pick a block      pick                   findBlock, bestFit
//	split             split                  take
//	merge             merge                  Free, tryMerge (repeated with MergeRepeater, ABI 1.2)
//	segment mode      segmentMode            grow
//	segment size      segmentSize            grow, newSegment
//	expand            expandSize             expand (expandable.go)
//	release           release                grow; perform, release* (release.go), unmapBlock
//
// With a Policy that implements no hook (NoHooks) the allocator behaves
// like PyTorch's CUDA caching allocator at default settings. The Wasm
// runtime that turns a policy module into a Policy is host/wasm; Adopt
// (adopt.go) installs the state of a trace that starts mid-run. The ABI is
// specified in sdk/ABI.md.
package host
