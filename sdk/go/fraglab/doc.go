// Package fraglab is the Go SDK for fraglab policy modules: WebAssembly
// modules that make the allocator decisions of fraglab's host (policy ABI
// v1.5, sdk/ABI.md).
//
// A policy is a value that implements some of the hook interfaces
// (RoundSizer, PoolChooser, SearchOrderer, BlockPicker, Splitter, Merger,
// SegmentModer, SegmentSizer, ExpandSizer, Releaser, Observer), plus Initer
// to read parameters, Windowed to choose the candidate window,
// MergeRepeater to make merges cascade, ReserveLimiter to cap the bytes
// reserved from the device, StitchKeeper to keep freed stitched blocks
// (ABI 1.5) and Planner to plan offline, seeing the whole workload first
// (ABI 1.5). Package
// main registers it from an init function and keeps an empty main:
//
//	package main
//
//	import "github.com/fraglab/fraglab/sdk/go/fraglab"
//
//	type Page4K struct{}
//
//	func (Page4K) RoundSize(size int64, stream, tag int32) int64 {
//		return (size + 4095) &^ 4095
//	}
//
//	func init() { fraglab.Register(Page4K{}) }
//
//	func main() {}
//
// and builds as a WebAssembly reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .
//
// The SDK owns the module's exports: the version marker fraglab_abi_v1_5,
// policy_init, policy_scratch and every policy_* hook (policy_plan and
// policy_place included: the hook mask keeps a policy that is no Planner
// online). Each hook forwards to
// the registered policy, or answers Defer when the policy lacks it. In
// policy_init the SDK runs Init, then declares the candidate window
// (Windowed), repeated merges (MergeRepeater, config key 3), the reserve
// limit (ReserveLimiter, config key 4), stitch keeping (StitchKeeper,
// config key 5) and the hook mask (config key 2)
// computed from the interfaces the policy implements, so the host calls
// only those hooks and applies its defaults to the others at no cost.
// During Merge, MergeOffsets gives the offsets of the two
// blocks in their segment, which a buddy allocator needs; while an
// allocation is served, RequestPrivatePool gives the private memory pool
// it is made to (ABI 1.4).
//
// # Rules for hooks
//
//   - Hooks must not allocate. A hook is called on every allocation of a
//     workload; an allocation may start Go's garbage collector inside it,
//     which costs milliseconds. Allocate in Init (or in package variables)
//     and reuse. Log with a constant message, Stat and Fail do not allocate;
//     Logf, Errorf, ParamString and TagName do (Errorf is fine on the path
//     that ends the run).
//   - Do not start goroutines that outlive a call: the host runs the module
//     only while it calls a hook, so such a goroutine may never run.
//   - A panic traps: the run stops with the panic's text and the guest's
//     stack, and the module is never called again. Return Error (via
//     Errorf or Fail) to fail with a message of your own.
//   - Read parameters (ParamInt, ParamBool, ParamFloat, ParamString) in
//     Init only. The host refuses a value that does not parse and a
//     parameter the policy never read.
//   - BlockPicker gets the candidates as a []Candidate view of the SDK's
//     scratch buffer; it is valid only during the call.
//
// # Start-up
//
// The module is a reactor (-buildmode=c-shared): the host calls its
// _initialize export once, which runs the Go runtime's start-up and every
// package's init functions (so Register runs), then policy_init. main
// never runs.
//
// # Testing
//
// Built for the machine running go test (any GOOS but wasip1), the host
// imports are answered by a FakeHost with settable parameters, stats and
// tag names, which also calls the hooks through the same glue as the
// exports. Policy logic is then tested with plain go test; see
// NewFakeHost.
package fraglab
