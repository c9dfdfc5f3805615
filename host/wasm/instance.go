package wasm

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// DefaultMemoryLimitPages caps a policy instance's linear memory: 4096
// pages of 64 KiB = 256 MiB.
const DefaultMemoryLimitPages = 4096

// Limits on what a policy can make the host keep.
const (
	maxLogLines   = 1000
	maxErrorText  = 4096
	maxStderr     = 16 << 10
	maxParamBytes = 1 << 16
)

// Config configures one policy instance.
type Config struct {
	Params           map[string]string // policy parameters (--param / YAML)
	Device           cudadriver.Info   // answers stat before the allocator is attached
	TagName          func(int32) (string, bool)
	Log              io.Writer // receives the policy's log lines; nil discards them
	MemoryLimitPages uint32    // 0 means DefaultMemoryLimitPages
	// Interruptible runs the module in safe mode: a hook that does not
	// return can be stopped with Interrupt, at a cost on every call
	// (wazero's CloseOnContextDone). Without it a runaway hook can only be
	// stopped by ending the process.
	Interruptible bool
	// InitTimeout bounds the start-up calls (_initialize, policy_init,
	// policy_scratch) together; 0 means DefaultInitTimeout. Past it, in
	// safe mode the call is stopped and Instantiate fails naming it; in
	// fast mode the process reports it on stderr and ends with ExitHung.
	InitTimeout time.Duration
	// PlanTimeout bounds the policy_plan calls of a run together (ABI
	// 1.5), as InitTimeout the start-up calls; 0 means DefaultPlanTimeout.
	PlanTimeout time.Duration
}

// DefaultInitTimeout bounds a module's start-up calls.
const DefaultInitTimeout = 10 * time.Second

// DefaultPlanTimeout bounds a module's policy_plan calls: planning the
// largest workloads of the suite takes well under a second.
const DefaultPlanTimeout = 60 * time.Second

// ExitHung is the exit status of a process ended because a policy did not
// return in fast mode (replay.ExitHung is the same).
const ExitHung = 3

// initStages are the start-up calls, in order, as the hang report names them.
var initStages = [...]string{"_initialize", "policy_init", "policy_scratch"}

// Instance is a running policy module: it implements host.Policy. It is
// not safe for concurrent use; one run owns one instance.
type Instance struct {
	mod    *Module
	rt     wazero.Runtime
	inst   api.Module
	ctx    context.Context
	fns    [abi.NumHooks]api.Function
	stack  []uint64
	window int
	mask   int64 // hooks the policy says it implements (config ConfigHooks); -1: all it exports
	// mergeRepeat: ask merges again after a merge (config ConfigMergeRepeat, ABI 1.2)
	mergeRepeat bool
	// reserveLimit: the most bytes reserved (config ConfigReserveLimit, ABI 1.3); 0 none
	reserveLimit int64
	// stitchKeep: freed stitched blocks stay mapped (config ConfigStitchKeep, ABI 1.5)
	stitchKeep bool
	scratch    uint32
	scratchLen uint32 // bytes asked of policy_scratch
	view       []byte // scratch bytes in guest memory; re-taken when memory grows
	memSize    uint32
	dead       error
	cancel     context.CancelFunc // safe mode only
	stopped    atomic.Value       // why Interrupt stopped the instance (string)
	// running is the hook being called, -1 between calls. Its store after
	// the arguments are in stack publishes them to Running, which a hang
	// watchdog calls from another goroutine while the hook does not return.
	running atomic.Int32

	cfg      Config
	stats    func(key, arg int32) int64
	inInit   bool
	read     map[string]bool // parameters the policy asked for
	paramErr []string
	errText  string
	logLines int
	stderr   boundedBuffer

	planStop func() bool // stops the plan timer; nil outside planning
}

// Instantiate starts an instance: it runs _initialize and policy_init,
// checks the parameters, and sets up the scratch buffer. It fails with a
// *LoadError when the module refuses to start.
func (m *Module) Instantiate(ctx context.Context, cfg Config) (*Instance, error) {
	limit := cfg.MemoryLimitPages
	if limit == 0 {
		limit = DefaultMemoryLimitPages
	}
	in := &Instance{mod: m, ctx: ctx, cfg: cfg, stack: make([]uint64, 8), window: abi.DefaultCandidateWindow, mask: -1, read: map[string]bool{}}
	in.stderr.limit = maxStderr
	in.running.Store(-1)
	rc := wazero.NewRuntimeConfigCompiler().WithCompilationCache(sharedCache()).WithMemoryLimitPages(limit)
	if cfg.Interruptible {
		// Safe mode: compiled code checks for cancellation (loops included)
		// and every call watches the context; Interrupt stops a runaway hook.
		rc = rc.WithCloseOnContextDone(true)
		ctx, in.cancel = context.WithCancel(ctx)
		in.ctx = ctx
	}
	in.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(format string, a ...any) (*Instance, error) {
		in.rt.Close(ctx)
		return nil, &LoadError{Module: m.Name, Msg: fmt.Sprintf(format, a...)}
	}
	if err := in.hostModule(ctx); err != nil {
		return fail("host imports: %v", err)
	}
	if m.WASI {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, in.rt); err != nil {
			return fail("WASI: %v", err)
		}
	}
	if m.EnvAbort {
		if err := in.envModule(ctx); err != nil {
			return fail("env.abort: %v", err)
		}
	}
	cm, err := in.rt.CompileModule(ctx, m.bytes)
	if err != nil {
		return fail("compile: %v", err)
	}
	// No start function runs implicitly: _initialize is called below so a
	// trap in it is reported like any other.
	mc := wazero.NewModuleConfig().WithName("policy").WithStartFunctions().
		WithStdout(&in.stderr).WithStderr(&in.stderr)
	in.inst, err = in.rt.InstantiateModule(ctx, cm, mc)
	if err != nil {
		return fail("instantiate: %v", err)
	}
	var stage atomic.Int32 // index in initStages of the call running
	stop := in.watchInit(&stage)
	defer stop()
	if f := in.inst.ExportedFunction("_initialize"); f != nil {
		if _, err := f.Call(ctx); err != nil {
			return fail("_initialize trapped: %v%s", in.withWhy(err), in.stderrNote())
		}
	}
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		if m.Hooks[h] {
			in.fns[h] = in.inst.ExportedFunction(abi.Hooks[h].Name)
		}
	}
	stage.Store(1)
	if f := in.fns[abi.HookInit]; f != nil {
		in.inInit = true
		res, err := f.Call(ctx)
		in.inInit = false
		if err != nil {
			return fail("policy_init trapped: %v%s%s%s", in.withWhy(err), in.errNote(), in.paramNote(), in.stderrNote())
		}
		if int64(res[0]) < 0 {
			return fail("policy_init answered %d%s%s", int64(res[0]), in.errNote(), in.paramNote())
		}
	}
	if len(in.paramErr) > 0 {
		return fail("%s", strings.Join(in.paramErr, "; "))
	}
	if err := in.checkUnread(); err != nil {
		return fail("%v", err)
	}
	if f := in.fns[abi.HookScratch]; f != nil && (in.Implements(abi.HookPickBlock) || in.Implements(abi.HookPlan)) {
		need := uint32(0)
		if in.Implements(abi.HookPickBlock) {
			need = uint32(in.window * abi.RecordSize)
		}
		if in.Implements(abi.HookPlan) {
			need = max(need, abi.PlanBatch*abi.PlanRecordSize)
		}
		in.scratchLen = need
		stage.Store(2)
		res, err := f.Call(ctx, uint64(need))
		if err != nil {
			return fail("policy_scratch trapped: %v%s", in.withWhy(err), in.stderrNote())
		}
		in.scratch = uint32(res[0])
		if in.scratch == 0 || in.scratch%8 != 0 {
			return fail("policy_scratch(%d) answered %d: expected a non-zero, 8-byte aligned address", need, in.scratch)
		}
		if _, ok := in.inst.Memory().Read(in.scratch, need); !ok {
			return fail("policy_scratch(%d) answered %d: the region ends past the module's memory", need, in.scratch)
		}
		in.takeView()
	}
	return in, nil
}

// watchInit bounds the start-up calls by cfg.InitTimeout: past it, a safe
// instance is interrupted (the call fails naming itself); in fast mode the
// process writes a report prepared in advance, without allocating (a
// spinning module blocks the garbage collector), and exits with ExitHung.
// It returns the function that stops watching.
func (in *Instance) watchInit(stage *atomic.Int32) (stop func() bool) {
	timeout := in.cfg.InitTimeout
	if timeout <= 0 {
		timeout = DefaultInitTimeout
	}
	var reports [len(initStages)][]byte
	for i, name := range initStages {
		reports[i] = fmt.Appendf(nil, "fraglab: policy %s: %s did not return within %v. Wasm code cannot be interrupted in fast mode, so the process ends; rerun with --safe to stop it instead of the process.\n",
			in.mod.Name, name, timeout)
	}
	t := time.AfterFunc(timeout, func() {
		i := stage.Load()
		if in.cancel != nil {
			in.Interrupt(initStages[i] + " did not return within " + timeout.String() + " and was stopped")
			return
		}
		os.Stderr.Write(reports[i])
		os.Exit(ExitHung)
	})
	return t.Stop
}

// checkUnread refuses parameters the policy never asked for.
func (in *Instance) checkUnread() error {
	var unread, read []string
	for k := range in.cfg.Params {
		if !in.read[k] {
			unread = append(unread, k)
		}
	}
	if len(unread) == 0 {
		return nil
	}
	for k := range in.read {
		read = append(read, k)
	}
	sort.Strings(unread)
	sort.Strings(read)
	accepted := "it reads no parameters"
	if len(read) > 0 {
		accepted = "it reads: " + strings.Join(read, ", ")
	}
	return fmt.Errorf("unknown parameter %s: the policy never reads it (%s)", strings.Join(unread, ", "), accepted)
}

func (in *Instance) errNote() string {
	if in.errText == "" {
		return ""
	}
	return " (policy said: " + in.errText + ")"
}

// paramNote lists parameter problems found before policy_init failed: they
// may be its cause.
func (in *Instance) paramNote() string {
	if len(in.paramErr) == 0 {
		return ""
	}
	return "; also: " + strings.Join(in.paramErr, "; ")
}

func (in *Instance) stderrNote() string {
	if in.stderr.Len() == 0 {
		return ""
	}
	return "\npolicy stderr:\n" + in.stderr.String()
}

// AttachStats makes the stat import answer from the allocator.
func (in *Instance) AttachStats(f func(key, arg int32) int64) { in.stats = f }

// Module returns the instance's module.
func (in *Instance) Module() *Module { return in.mod }

// Stderr returns what the policy wrote to stdout and stderr (bounded).
func (in *Instance) Stderr() string { return in.stderr.String() }

// Close releases the instance.
func (in *Instance) Close() error {
	if in.planStop != nil {
		in.planStop()
	}
	if in.cancel != nil {
		defer in.cancel()
	}
	return in.rt.Close(in.ctx)
}

// Interrupt stops a hook that is running, from another goroutine: the call
// fails with why, and the instance is dead. It works only for instances
// made with Config.Interruptible; it reports whether it could.
func (in *Instance) Interrupt(why string) bool {
	if in.cancel == nil {
		return false
	}
	in.stopped.Store(why)
	in.cancel()
	return true
}

func (in *Instance) takeView() {
	in.memSize = in.inst.Memory().Size()
	in.view, _ = in.inst.Memory().Read(in.scratch, in.scratchLen)
}

// AppendRunning appends the hook being called and its arguments, as
// "policy_split(block_size=2097152, rounded=5120, ...)", to b, without
// allocating; ok is false between hook calls. A hang watchdog calls it from
// another goroutine while a hook does not return: the arguments it reads
// were published by the store of running that follows them, and nothing
// writes them while the hook runs.
func (in *Instance) AppendRunning(b []byte) (_ []byte, ok bool) {
	h := abi.Hook(in.running.Load())
	if h < 0 || h >= abi.NumHooks {
		return b, false
	}
	spec := &abi.Hooks[h]
	b = append(b, spec.Name...)
	b = append(b, '(')
	for i, name := range spec.Params {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, name...)
		b = append(b, '=')
		v := int64(in.stack[i])
		if spec.Types[i] == abi.I32 {
			v = int64(int32(uint32(in.stack[i])))
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ')'), true
}

// call invokes a hook with the arguments already in in.stack.
func (in *Instance) call(h abi.Hook) (int64, error) {
	if in.dead != nil {
		return 0, in.dead
	}
	in.running.Store(int32(h))
	err := in.fns[h].CallWithStack(in.ctx, in.stack)
	in.running.Store(-1)
	if err != nil {
		in.dead = in.trapError(err)
		return 0, in.dead
	}
	return int64(in.stack[0]), nil
}

// withWhy prefixes err with why Interrupt stopped the instance, if it did.
func (in *Instance) withWhy(err error) error {
	if why, ok := in.stopped.Load().(string); ok {
		return fmt.Errorf("%s: %w", why, err)
	}
	return err
}

// trapError describes a trap with the guest's captured output; the
// instance is never called again.
func (in *Instance) trapError(err error) error {
	err = in.withWhy(err)
	if in.stderr.Len() > 0 {
		return fmt.Errorf("%w\npolicy stderr:\n%s", err, in.stderr.String())
	}
	return err
}

func i32(v int32) uint64 { return api.EncodeI32(v) }

// Implements reports whether the module exports hook h.
func (in *Instance) Implements(h abi.Hook) bool {
	return in.fns[h] != nil && h > abi.HookScratch && (in.mask < 0 || in.mask&(1<<h) != 0)
}

// CandidateWindow is the window the policy configured.
func (in *Instance) CandidateWindow() int { return in.window }

// MergeRepeat reports whether the policy asked (ABI 1.2, config key 3) to
// be asked about merges again after a merge; it implements
// host.MergeRepeater.
func (in *Instance) MergeRepeat() bool { return in.mergeRepeat }

// ABIMinor is the ABI minor version the module declares; it makes Instance
// a host.Versioned, so the host keeps that version's semantics.
func (in *Instance) ABIMinor() int { return in.mod.Minor }

// ReserveLimit is the limit on reserved bytes the policy set (ABI 1.3,
// config key 4); 0 when none. It makes Instance a host.ReserveLimiter.
func (in *Instance) ReserveLimit() int64 { return in.reserveLimit }

// StitchKeep reports whether the policy asked (ABI 1.5, config key 5) that
// freed stitched blocks stay mapped and cached. It makes Instance a
// host.StitchKeeper.
func (in *Instance) StitchKeep() bool { return in.stitchKeep }

// ErrorText is the policy's last error_set text.
func (in *Instance) ErrorText() string { return in.errText }

// RoundSize calls policy_round_size.
func (in *Instance) RoundSize(size int64, stream, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2] = uint64(size), i32(stream), i32(tag)
	return in.call(abi.HookRoundSize)
}

// ChoosePool calls policy_choose_pool.
func (in *Instance) ChoosePool(rounded int64, stream, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2] = uint64(rounded), i32(stream), i32(tag)
	return in.call(abi.HookChoosePool)
}

// SearchOrder calls policy_search_order.
func (in *Instance) SearchOrder(rounded int64, pool, stream, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3] = uint64(rounded), i32(pool), i32(stream), i32(tag)
	return in.call(abi.HookSearchOrder)
}

// PickBlock writes the candidates to the scratch buffer and calls
// policy_pick_block.
func (in *Instance) PickBlock(c []abi.Candidate, rounded int64, pool, stream, tag int32) (int64, error) {
	if in.inst.Memory().Size() != in.memSize {
		in.takeView()
	}
	for i := range c {
		c[i].Put(in.view[i*abi.RecordSize:])
	}
	s := in.stack
	s[0], s[1], s[2], s[3], s[4] = i32(int32(len(c))), uint64(rounded), i32(pool), i32(stream), i32(tag)
	return in.call(abi.HookPickBlock)
}

// Split calls policy_split.
func (in *Instance) Split(blockSize, rounded int64, pool, stream, flags, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3], s[4], s[5] = uint64(blockSize), uint64(rounded), i32(pool), i32(stream), i32(flags), i32(tag)
	return in.call(abi.HookSplit)
}

// Merge calls policy_merge.
func (in *Instance) Merge(blockSize, neighbourSize int64, pool, side int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3] = uint64(blockSize), uint64(neighbourSize), i32(pool), i32(side)
	return in.call(abi.HookMerge)
}

// SegmentMode calls policy_segment_mode.
func (in *Instance) SegmentMode(pool, stream int32) (int64, error) {
	s := in.stack
	s[0], s[1] = i32(pool), i32(stream)
	return in.call(abi.HookSegmentMode)
}

// SegmentSize calls policy_segment_size.
func (in *Instance) SegmentSize(rounded int64, pool, stream, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3] = uint64(rounded), i32(pool), i32(stream), i32(tag)
	return in.call(abi.HookSegmentSize)
}

// ExpandSize calls policy_expand_size.
func (in *Instance) ExpandSize(missing, rounded int64, pool, stream int32, page int64) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3], s[4] = uint64(missing), uint64(rounded), i32(pool), i32(stream), uint64(page)
	return in.call(abi.HookExpandSize)
}

// Release calls policy_release.
func (in *Instance) Release(phase int32, rounded int64, pool, stream, attempt int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3], s[4] = i32(phase), uint64(rounded), i32(pool), i32(stream), i32(attempt)
	return in.call(abi.HookRelease)
}

// Observe calls policy_observe.
func (in *Instance) Observe(kind int32, id, size int64, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3] = i32(kind), uint64(id), uint64(size), i32(tag)
	return in.call(abi.HookObserve)
}

// Plan writes the records to the scratch buffer and calls policy_plan
// (ABI 1.5). The calls of a run, from the first to the one with done, are
// bounded together by Config.PlanTimeout: past it, a safe instance is
// interrupted (the call fails naming it); in fast mode the process reports
// it and ends with ExitHung.
func (in *Instance) Plan(recs []abi.PlanRecord, done bool) (int64, error) {
	if len(recs) > abi.PlanBatch {
		return 0, fmt.Errorf("policy_plan: %d records in one call, at most %d", len(recs), abi.PlanBatch)
	}
	if in.planStop == nil && in.dead == nil {
		in.planStop = in.watchPlan()
	}
	if in.inst.Memory().Size() != in.memSize {
		in.takeView()
	}
	for i := range recs {
		recs[i].Put(in.view[i*abi.PlanRecordSize:])
	}
	s := in.stack
	s[0], s[1] = i32(int32(len(recs))), 0
	if done {
		s[1] = 1
	}
	release := holdGC()
	ans, err := in.call(abi.HookPlan)
	release()
	if (done || err != nil) && in.planStop != nil {
		in.planStop()
		in.planStop = nil
	}
	return ans, err
}

// gcHold counts the policy_plan calls running in the process; while there
// is one, the garbage collector is off. A collection stops the world, and
// the world waits for every goroutine to reach a safe point, which
// compiled Wasm code does not have until it returns: a plan that computes
// for seconds would freeze the whole process, the plan timer and a
// worker's RPC keepalive included (its parent then sees the connection
// die). What a plan allocates on the Go heap meanwhile is the module's
// linear memory when it grows, bounded by Config.MemoryLimitPages, and
// the next collection after the plan reclaims what is left over.
var gcHold struct {
	sync.Mutex
	n       int
	percent int
}

// holdGC turns the garbage collector off until the returned function is
// called; holds nest across goroutines.
func holdGC() (release func()) {
	gcHold.Lock()
	if gcHold.n == 0 {
		gcHold.percent = debug.SetGCPercent(-1)
	}
	gcHold.n++
	gcHold.Unlock()
	return func() {
		gcHold.Lock()
		gcHold.n--
		if gcHold.n == 0 {
			debug.SetGCPercent(gcHold.percent)
		}
		gcHold.Unlock()
	}
}

// watchPlan starts the plan timer (see Plan); it returns what stops it.
func (in *Instance) watchPlan() (stop func() bool) {
	timeout := in.cfg.PlanTimeout
	if timeout <= 0 {
		timeout = DefaultPlanTimeout
	}
	report := fmt.Appendf(nil, "fraglab: policy %s: policy_plan did not return within %v. Wasm code cannot be interrupted in fast mode, so the process ends; rerun with --safe to stop it instead of the process.\n",
		in.mod.Name, timeout)
	t := time.AfterFunc(timeout, func() {
		if in.cancel != nil {
			in.Interrupt("policy_plan did not return within " + timeout.String() + " and was stopped")
			return
		}
		os.Stderr.Write(report)
		os.Exit(ExitHung)
	})
	return t.Stop
}

// Place calls policy_place (ABI 1.5).
func (in *Instance) Place(id, rounded int64, pool, stream, tag int32) (int64, error) {
	s := in.stack
	s[0], s[1], s[2], s[3], s[4] = uint64(id), uint64(rounded), i32(pool), i32(stream), i32(tag)
	return in.call(abi.HookPlace)
}

// ---- host imports ----

// hostModule instantiates the "fraglab" import module bound to this instance.
func (in *Instance) hostModule(ctx context.Context) error {
	b := in.rt.NewHostModuleBuilder(abi.ImportModule)
	fns := map[string]api.GoModuleFunc{
		"log":       in.importLog,
		"error_set": in.importErrorSet,
		"param_i64": in.importParamI64,
		"param_f64": in.importParamF64,
		"param_str": in.importParamStr,
		"stat":      in.importStat,
		"tag_name":  in.importTagName,
		"config":    in.importConfig,
	}
	for _, spec := range abi.Imports {
		params := make([]api.ValueType, len(spec.Params))
		for i, t := range spec.Params {
			params[i] = api.ValueType(t)
		}
		results := make([]api.ValueType, len(spec.Results))
		for i, t := range spec.Results {
			results[i] = api.ValueType(t)
		}
		b.NewFunctionBuilder().WithGoModuleFunction(fns[spec.Name], params, results).Export(spec.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// envModule provides env.abort for AssemblyScript: it traps with the message.
func (in *Instance) envModule(ctx context.Context) error {
	_, err := in.rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, s []uint64) {
			msg := asString(m, api.DecodeU32(s[0]))
			file := asString(m, api.DecodeU32(s[1]))
			panic(fmt.Errorf("abort: %s at %s:%d:%d", msg, file, api.DecodeU32(s[2]), api.DecodeU32(s[3])))
		}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		Export("abort").Instantiate(ctx)
	return err
}

// asString reads an AssemblyScript string (UTF-16, length at ptr-4).
func asString(m api.Module, ptr uint32) string {
	if ptr < 4 {
		return ""
	}
	n, ok := m.Memory().ReadUint32Le(ptr - 4)
	if !ok || n > 4096 {
		return ""
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return ""
	}
	r := make([]rune, 0, n/2)
	for i := 0; i+1 < len(b); i += 2 {
		r = append(r, rune(uint16(b[i])|uint16(b[i+1])<<8))
	}
	return string(r)
}

// bytesAt reads guest memory for an import, trapping on a bad range.
func bytesAt(m api.Module, imp string, ptr, n uint32) []byte {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("%s.%s: bytes [%d, %d) lie outside the module's memory (%d bytes)", abi.ImportModule, imp, ptr, uint64(ptr)+uint64(n), m.Memory().Size()))
	}
	return b
}

func (in *Instance) importLog(_ context.Context, m api.Module, s []uint64) {
	level := api.DecodeI32(s[0])
	msg := bytesAt(m, "log", api.DecodeU32(s[1]), api.DecodeU32(s[2]))
	in.logLines++
	if in.cfg.Log == nil {
		return
	}
	if in.logLines > maxLogLines {
		if in.logLines == maxLogLines+1 {
			fmt.Fprintf(in.cfg.Log, "policy: more than %d log lines; the rest are dropped\n", maxLogLines)
		}
		return
	}
	name := [...]string{"debug", "info", "warn", "error"}
	lv := "level " + strconv.Itoa(int(level))
	if level >= 0 && int(level) < len(name) {
		lv = name[level]
	}
	fmt.Fprintf(in.cfg.Log, "policy %s: %s\n", lv, sanitize(msg))
}

func sanitize(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

func (in *Instance) importErrorSet(_ context.Context, m api.Module, s []uint64) {
	b := bytesAt(m, "error_set", api.DecodeU32(s[0]), api.DecodeU32(s[1]))
	if len(b) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	in.errText = sanitize(b)
}

// param looks a parameter up and marks it read.
func (in *Instance) param(m api.Module, imp string, ptr, n uint32) (string, string, bool) {
	if n > maxParamBytes {
		panic(fmt.Errorf("%s.%s: a parameter name of %d bytes", abi.ImportModule, imp, n))
	}
	name := string(bytesAt(m, imp, ptr, n))
	in.read[name] = true
	v, ok := in.cfg.Params[name]
	return name, v, ok
}

func (in *Instance) importParamI64(_ context.Context, m api.Module, s []uint64) {
	name, v, ok := in.param(m, "param_i64", api.DecodeU32(s[0]), api.DecodeU32(s[1]))
	s[0] = s[2] // the default
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "true":
		s[0] = 1
		return
	case "false":
		s[0] = 0
		return
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		in.paramErr = append(in.paramErr, fmt.Sprintf("parameter %s=%q is not an integer", name, v))
		return
	}
	s[0] = uint64(n)
}

func (in *Instance) importParamF64(_ context.Context, m api.Module, s []uint64) {
	name, v, ok := in.param(m, "param_f64", api.DecodeU32(s[0]), api.DecodeU32(s[1]))
	def := s[2]
	s[0] = def
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		in.paramErr = append(in.paramErr, fmt.Sprintf("parameter %s=%q is not a number", name, v))
		return
	}
	s[0] = api.EncodeF64(f)
}

func (in *Instance) importParamStr(_ context.Context, m api.Module, s []uint64) {
	_, v, ok := in.param(m, "param_str", api.DecodeU32(s[0]), api.DecodeU32(s[1]))
	if !ok {
		s[0] = api.EncodeI32(-1)
		return
	}
	if limit := api.DecodeU32(s[3]); uint32(len(v)) <= limit {
		copy(bytesAt(m, "param_str", api.DecodeU32(s[2]), uint32(len(v))), v)
	}
	s[0] = api.EncodeI32(int32(len(v)))
}

func (in *Instance) importStat(_ context.Context, _ api.Module, s []uint64) {
	key, arg := api.DecodeI32(s[0]), api.DecodeI32(s[1])
	if (key == abi.StatStitched || key == abi.StatStitchedFree) && in.mod.Minor < 5 {
		s[0] = api.EncodeI64(abi.StatUnknown) // ABI 1.5's keys, unknown to older modules
		return
	}
	if in.stats != nil {
		s[0] = uint64(in.stats(key, arg))
		return
	}
	// Before the allocator exists (policy_init): device facts, zero counters.
	v := int64(math.MinInt64)
	switch key {
	case abi.StatCapacity, abi.StatDeviceFree:
		v = in.cfg.Device.Capacity
	case abi.StatGranularity:
		v = in.cfg.Device.Granularity
	case abi.StatEventIndex, abi.StatMergeBlockOffset, abi.StatMergeNeighbourOffset:
		v = -1
	case abi.StatReserved, abi.StatAllocated, abi.StatRequested, abi.StatActive, abi.StatSegments,
		abi.StatOOMs, abi.StatPeakReserved, abi.StatLiveBlocks, abi.StatStitched, abi.StatStitchedFree:
		v = 0
	case abi.StatPoolFree, abi.StatPoolLargest, abi.StatPoolReserved:
		if arg >= 0 && arg < abi.MaxPools {
			v = 0
		}
	}
	s[0] = uint64(v)
}

func (in *Instance) importTagName(_ context.Context, m api.Module, s []uint64) {
	var name string
	ok := false
	if in.cfg.TagName != nil {
		name, ok = in.cfg.TagName(api.DecodeI32(s[0]))
	}
	if !ok {
		s[0] = api.EncodeI32(-1)
		return
	}
	if limit := api.DecodeU32(s[2]); uint32(len(name)) <= limit {
		copy(bytesAt(m, "tag_name", api.DecodeU32(s[1]), uint32(len(name))), name)
	}
	s[0] = api.EncodeI32(int32(len(name)))
}

func (in *Instance) importConfig(_ context.Context, _ api.Module, s []uint64) {
	key, value := api.DecodeI32(s[0]), int64(s[1])
	if !in.inInit {
		s[0] = api.EncodeI64(abi.Error)
		return
	}
	switch key {
	case abi.ConfigCandidateWindow:
		if value >= 1 && value <= abi.MaxCandidates {
			in.window = int(value)
			s[0] = uint64(value)
			return
		}
	case abi.ConfigHooks:
		// ABI 1.1: a module that declares 1.0 does not know this key.
		if in.mod.Minor >= 1 && value >= 0 && value < 1<<abi.NumHooks {
			in.mask = value
			s[0] = uint64(value)
			return
		}
	case abi.ConfigMergeRepeat:
		// ABI 1.2: a module that declares 1.0 or 1.1 does not know this key.
		if in.mod.Minor >= 2 && (value == 0 || value == 1) {
			in.mergeRepeat = value == 1
			s[0] = uint64(value)
			return
		}
	case abi.ConfigReserveLimit:
		// ABI 1.3: a module that declares 1.0 to 1.2 does not know this key.
		if in.mod.Minor >= 3 && value >= 0 && value <= 1<<48 { // 2^48: the largest size of the ABI
			in.reserveLimit = value
			s[0] = uint64(value)
			return
		}
	case abi.ConfigStitchKeep:
		// ABI 1.5: a module that declares 1.0 to 1.4 does not know this key.
		if in.mod.Minor >= 5 && (value == 0 || value == 1) {
			in.stitchKeep = value == 1
			s[0] = uint64(value)
			return
		}
	}
	s[0] = api.EncodeI64(abi.Error)
}

// boundedBuffer keeps the first limit bytes written to it.
type boundedBuffer struct {
	buf   []byte
	limit int
	lost  bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	room := b.limit - len(b.buf)
	if room < len(p) {
		b.lost = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *boundedBuffer) Len() int { return len(b.buf) }

func (b *boundedBuffer) String() string {
	if b.lost {
		return string(b.buf) + "\n[output truncated]"
	}
	return string(b.buf)
}
