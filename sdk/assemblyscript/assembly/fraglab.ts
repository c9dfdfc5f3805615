// fraglab.ts: the AssemblyScript SDK for fraglab policy modules, policy ABI
// v1.5.
//
// sdk/ABI.md is the normative contract; this module restates it in
// AssemblyScript and mirrors the constants of sdk/abi/abi.go (the names are
// those of abi.go in UPPER_SNAKE case). A policy is one entry file that
// imports what it needs from here, exports the hooks it implements as
// `policy_*` functions, and re-exports one version marker:
//
//   import { paramI64, fail, DEFER } from "./fraglab";
//   export { fraglab_abi_v1_0 } from "./fraglab";
//
//   export function policy_round_size(size: i64, stream: i32, tag: i32): i64 {
//     return size < 4096 ? 4096 : DEFER;
//   }
//
// Build it, from sdk/assemblyscript, with exactly
//
//   npx asc assembly/policy.ts -O3 --runtime stub --noAssert --use abort= -o policy.wasm
//
// * `--runtime stub`: a bump allocator that never frees and no garbage
//   collector, so the module exports no runtime functions. Anything that
//   allocates (`new`, string concatenation, arrays, `paramStr`, `tagName`)
//   leaks for the life of the run: allocate in policy_init only, never in a
//   hook that runs per allocation. Every other helper here works in static
//   buffers and allocates nothing.
// * `--use abort=`: drops the `env.abort` import that bounds checks and
//   `throw` would otherwise need (a failed check then traps with
//   `unreachable`). The module's only imports are then `fraglab.*`.
// * `--noAssert`: `assert` compiles to nothing.
//
// Hooks take and return i32/i64 exactly as ABI §3 lists them; a hook whose
// export has another signature is refused at load, naming the hook. Sizes
// are i64 (signed): compare them as i64, and convert explicitly (`<u64>x`)
// only where an unsigned compare is meant.

// ---------------------------------------------------------------------------
// Version markers (ABI §1, §8). The host never calls them; it reads the
// export's name. Re-export exactly one from the policy's entry file:
//   export { fraglab_abi_v1_0 } from "./fraglab";   // runs on every 1.x host
//   export { fraglab_abi_v1_1 } from "./fraglab";   // needs config(CONFIG_HOOKS, …)
//   export { fraglab_abi_v1_2 } from "./fraglab";   // needs config(CONFIG_MERGE_REPEAT, …)
//   export { fraglab_abi_v1_3 } from "./fraglab";   // needs config(CONFIG_RESERVE_LIMIT, …)
//   export { fraglab_abi_v1_4 } from "./fraglab";   // relies on STAT_REQUEST_PRIVATE_POOL, … (keys 17-19)
//   export { fraglab_abi_v1_5 } from "./fraglab";   // stitches (ACT_STITCH, …) or plans (policy_plan, policy_place)
// Each needs a host that implements its version; re-export the oldest
// whose keys the policy calls (the example re-exports fraglab_abi_v1_0).

export const ABI_MAJOR: i32 = 1;
export const ABI_MINOR: i32 = 5;

/** The ABI 1.0 marker: the module uses nothing added after 1.0. */
export function fraglab_abi_v1_0(): void {}

/** The ABI 1.1 marker: the module calls config(CONFIG_HOOKS, mask). */
export function fraglab_abi_v1_1(): void {}

/** The ABI 1.2 marker: the module calls config(CONFIG_MERGE_REPEAT, 1). */
export function fraglab_abi_v1_2(): void {}

/** The ABI 1.3 marker: the module calls config(CONFIG_RESERVE_LIMIT, bytes). */
export function fraglab_abi_v1_3(): void {}

/** The ABI 1.4 marker: the module relies on stat keys 17 to 19 (private
 * memory pools, pending frees), which an older host answers STAT_UNKNOWN. */
export function fraglab_abi_v1_4(): void {}

/** The ABI 1.5 marker: the module stitches (answers ACT_STITCH or
 * ACT_RELEASE_STITCHED, calls config(CONFIG_STITCH_KEEP, …)) or plans
 * (exports policy_plan and policy_place, ABI §3.8). */
export function fraglab_abi_v1_5(): void {}

// ---------------------------------------------------------------------------
// Hook answers (ABI §2): a non-negative answer is the decision, a negative
// one a status.

export const DEFER: i64 = -1; // use the host default for this one decision
export const NONE: i64 = -2; // policy_pick_block only: take no cached block
export const ERROR: i64 = -3; // the policy failed; the errorSet text says why

// Sizes (ABI §2): every size a policy answers is a multiple of BLOCK_ALIGN
// and at most MAX_SIZE.
export const BLOCK_ALIGN: i64 = 512;
export const MAX_SIZE: i64 = 1 << 48;
export const KIB: i64 = 1 << 10;
export const MIB: i64 = 1 << 20;
export const GIB: i64 = 1 << 30;

// Pools (ABI §2): 0 is PyTorch's small pool, 1 its large pool, 2..7 extra
// pools; host defaults treat every pool but 0 as large.
export const POOL_SMALL: i32 = 0;
export const POOL_LARGE: i32 = 1;
export const MAX_POOLS: i32 = 8;

// Search orders: answers of policy_search_order (ABI §3.2 step 3).
export const ORDER_BEST_FIT: i64 = 0; // size ascending, then address
export const ORDER_ADDRESS: i64 = 1; // address ascending (first fit)
export const ORDER_LARGEST: i64 = 2; // size descending, then address

// Block flags: policy_split's `flags` and candidate records (ABI §3.2, §3.4).
export const FLAG_EXPANDABLE: u32 = 1 << 0; // in an expandable segment
export const FLAG_WHOLE_SEGMENT: u32 = 1 << 1; // spans its whole classic segment
export const FLAG_STITCHED: u32 = 1 << 2; // ABI 1.5: in a stitched range (ABI §3.7)

// Merge sides: policy_merge's `side` (ABI §3.5).
export const SIDE_PREV: i32 = 0; // the free neighbour lies below
export const SIDE_NEXT: i32 = 1; // the free neighbour lies above

// Release phases: policy_release's `phase` (ABI §3.3).
export const PHASE_BEFORE_GROW: i32 = 0; // no cached block fits; about to grow
export const PHASE_GROW_FAILED: i32 = 1; // growing failed: the device is full

// Release actions (ABI §3.3): answer = arg << ACTION_BITS | action; build it
// with release(action, arg).
export const ACT_NOTHING: i64 = 0; // nothing (phase 1: OOM)
export const ACT_RELEASE_CACHED: i64 = 1; // empty_cache; arg 0
export const ACT_RELEASE_OVERSIZE: i64 = 2; // arg = threshold T > 0
export const ACT_RELEASE_AGED: i64 = 3; // arg = target bytes B > 0
// ABI 1.5 (ABI §3.7; needs the fraglab_abi_v1_5 marker):
export const ACT_STITCH: i64 = 4; // map free pages of the pool into one range for the request; arg 0 or STITCH_GROW
export const ACT_RELEASE_STITCHED: i64 = 5; // tear down every free stitched range; arg 0
export const STITCH_GROW: i64 = 1; // arg of ACT_STITCH: map new pages for what the free pages lack (GMLake's S4)
export const ACTION_BITS: i64 = 4;
export const ACTION_MASK: i64 = (1 << ACTION_BITS) - 1;
export const MAX_RELEASE_ATTEMPTS: i32 = 16;

/** A policy_release answer: `action` (ACT_*) with its argument. */
// @ts-ignore: decorator
@inline
export function release(action: i64, arg: i64): i64 {
  return (arg << ACTION_BITS) | action;
}

// Observe kinds: policy_observe's `kind` (ABI §3.2 step 7).
export const OBSERVE_ALLOC: i32 = 0; // allocation served: id, rounded size
export const OBSERVE_FREE: i32 = 1; // block freed: id, block size
export const OBSERVE_OOM: i32 = 2; // allocation failed: id, rounded size
export const OBSERVE_EMPTY_CACHE: i32 = 3; // empty_cache: id 0, bytes released

// Stat keys of stat(key, arg) (ABI §5.3).
export const STAT_EVENT_INDEX: i32 = 0; // trace event index being served
export const STAT_RESERVED: i32 = 1; // bytes held from the device
export const STAT_ALLOCATED: i32 = 2; // bytes in allocated blocks
export const STAT_REQUESTED: i32 = 3; // bytes requested by live allocations
export const STAT_ACTIVE: i32 = 4; // active bytes
export const STAT_CAPACITY: i32 = 5; // device capacity, -1 when unlimited
export const STAT_DEVICE_FREE: i32 = 6; // device bytes free
export const STAT_SEGMENTS: i32 = 7; // classic plus expandable segments
export const STAT_POOL_FREE: i32 = 8; // arg = pool: bytes in free blocks
export const STAT_POOL_LARGEST: i32 = 9; // arg = pool: largest free block
export const STAT_POOL_RESERVED: i32 = 10; // arg = pool: reserved bytes
export const STAT_OOMS: i32 = 11; // OOMs so far
export const STAT_GRANULARITY: i32 = 12; // device granularity in bytes
export const STAT_PEAK_RESERVED: i32 = 13; // peak reserved bytes so far
export const STAT_LIVE_BLOCKS: i32 = 14; // allocated blocks
// ABI 1.2, during policy_merge (-1 elsewhere, STAT_UNKNOWN on older hosts):
export const STAT_MERGE_BLOCK_OFFSET: i32 = 15; // the freed block's offset in its segment
export const STAT_MERGE_NEIGHBOUR_OFFSET: i32 = 16; // the neighbour's offset in its segment
// ABI 1.4 (ABI §3.6; answered to every module, STAT_UNKNOWN on older hosts and in policy_init):
export const STAT_REQUEST_PRIVATE_POOL: i32 = 17; // the request's private pool: 0 default, -1 outside an allocation
export const STAT_PRIVATE_RESERVED: i32 = 18; // bytes reserved by private pools
export const STAT_PENDING_FREE: i32 = 19; // bytes in frees waiting for other streams
// ABI 1.5 (ABI §3.7):
export const STAT_STITCHED: i32 = 20; // bytes mapped in stitched ranges
export const STAT_STITCHED_FREE: i32 = 21; // of those, bytes in free stitched blocks
export const STAT_UNKNOWN: i64 = i64.MIN_VALUE; // the answer for an unknown key

// Config keys of config(key, value), callable in policy_init only (ABI §5.5).
export const CONFIG_CANDIDATE_WINDOW: i32 = 1; // 1..MAX_CANDIDATES
export const CONFIG_HOOKS: i32 = 2; // ABI 1.1: the hook mask, HOOK_* bits
export const CONFIG_MERGE_REPEAT: i32 = 3; // ABI 1.2 (needs the fraglab_abi_v1_2 marker): 1 = merge again
// ABI 1.3 (needs the fraglab_abi_v1_3 marker): the most bytes the allocator
// may hold from the device, 0..MAX_SIZE (0, the default: no limit); a growth
// past it fails without a device call, as on a full device (PyTorch's
// per_process_memory_fraction). config answers ERROR to a value out of range:
// check that the answer is the value.
export const CONFIG_RESERVE_LIMIT: i32 = 4;
// ABI 1.5 (needs the fraglab_abi_v1_5 marker): 1 = a freed stitched block
// stays mapped and cached; 0 (default) = its range is torn down when freed.
export const CONFIG_STITCH_KEEP: i32 = 5;
export const DEFAULT_CANDIDATE_WINDOW: i32 = 8;
export const MAX_CANDIDATES: i32 = 256;

// Hooks, numbered as ABI §5.5 numbers the bits of the hook mask (the order
// of ABI §3). hookBit(HOOK_ROUND_SIZE) | hookBit(HOOK_SPLIT) is the mask of
// a policy that implements those two.
export const HOOK_INIT: i32 = 0;
export const HOOK_SCRATCH: i32 = 1;
export const HOOK_ROUND_SIZE: i32 = 2;
export const HOOK_CHOOSE_POOL: i32 = 3;
export const HOOK_SEARCH_ORDER: i32 = 4;
export const HOOK_PICK_BLOCK: i32 = 5;
export const HOOK_SPLIT: i32 = 6;
export const HOOK_MERGE: i32 = 7;
export const HOOK_SEGMENT_MODE: i32 = 8;
export const HOOK_SEGMENT_SIZE: i32 = 9;
export const HOOK_EXPAND_SIZE: i32 = 10;
export const HOOK_RELEASE: i32 = 11;
export const HOOK_OBSERVE: i32 = 12;
export const HOOK_PLAN: i32 = 13; // ABI 1.5
export const HOOK_PLACE: i32 = 14; // ABI 1.5
export const NUM_HOOKS: i32 = 15;

/** The hook-mask bit of hook `h` (HOOK_*). */
// @ts-ignore: decorator
@inline
export function hookBit(h: i32): i64 {
  return (<i64>1) << h;
}

// Log levels of log (ABI §5.1).
export const LOG_DEBUG: i32 = 0;
export const LOG_INFO: i32 = 1;
export const LOG_WARN: i32 = 2;
export const LOG_ERROR: i32 = 3;

// Well-known tags (ABI §6); other names get ids from FIRST_CUSTOM_TAG on,
// and tagName gives their text.
export const TAG_UNKNOWN: i32 = 0;
export const TAG_WEIGHT: i32 = 1;
export const TAG_ACTIVATION: i32 = 2;
export const TAG_GRADIENT: i32 = 3;
export const TAG_OPTIMIZER: i32 = 4;
export const TAG_KV_CACHE: i32 = 5;
export const TAG_WORKSPACE: i32 = 6;
export const FIRST_CUSTOM_TAG: i32 = 16;

// ---------------------------------------------------------------------------
// Host imports of module "fraglab" (ABI §5), raw. Strings are (pointer,
// byte length) of UTF-8, not AssemblyScript strings (which are UTF-16):
// prefer the typed helpers further down, which convert.

/** A UTF-8 line for the run's log at level LOG_*. */
// @ts-ignore: decorator
@external("fraglab", "log")
export declare function hostLog(level: i32, ptr: usize, len: i32): void;

/** The UTF-8 explanation of the next ERROR answer or trap (4 KiB kept). */
// @ts-ignore: decorator
@external("fraglab", "error_set")
export declare function hostErrorSet(ptr: usize, len: i32): void;

/** Parameter `name` as an integer (true/false read 1/0), or def if absent. */
// @ts-ignore: decorator
@external("fraglab", "param_i64")
export declare function hostParamI64(namePtr: usize, nameLen: i32, def: i64): i64;

/** Parameter `name` as a float, or def if absent. */
// @ts-ignore: decorator
@external("fraglab", "param_f64")
export declare function hostParamF64(namePtr: usize, nameLen: i32, def: f64): f64;

/** Parameter `name` as UTF-8 text: -1 if absent, else its length; written to
 * buf only if it fits in limit bytes. */
// @ts-ignore: decorator
@external("fraglab", "param_str")
export declare function hostParamStr(namePtr: usize, nameLen: i32, buf: usize, limit: i32): i32;

/** The allocator's state: STAT_* (STAT_UNKNOWN for an unknown key). */
// @ts-ignore: decorator
@external("fraglab", "stat")
export declare function hostStat(key: i32, arg: i32): i64;

/** The UTF-8 name of tag id `tag`: -1 if unknown, else its length; written
 * to buf only if it fits in limit bytes. */
// @ts-ignore: decorator
@external("fraglab", "tag_name")
export declare function hostTagName(tag: i32, buf: usize, limit: i32): i32;

/** Sets CONFIG_* `key` (in policy_init only): the value in force, or ERROR
 * for an unknown key or a value out of range. */
// @ts-ignore: decorator
@external("fraglab", "config")
export declare function hostConfig(key: i32, value: i64): i64;

// ---------------------------------------------------------------------------
// Candidate records (ABI §3.4) and the scratch area.

export const RECORD_SIZE: i32 = 48;

/** One candidate record, read in place from the scratch area: field offsets
 * 0, 8, 16, 24, 32, 40 and 44 as ABI §3.4 fixes them (checked below).
 * Get one with candidate(i); never `new` it. */
@unmanaged
export class Candidate {
  size: u64; // block size
  addr: u64; // block address
  segmentAddr: u64; // base address of the block's segment
  segmentSize: u64; // segment size (expandable: mapped bytes)
  expandableSize: u64; // block size plus the unmapped range after it
  flags: u32; // FLAG_*
  stream: u32; // stream index
}

// The layout, checked when the module compiles: the branch is compiled
// only when the condition holds, and then fails on the undefined name. (The
// builtin ERROR() is shadowed here by the status constant.)
if (offsetof<Candidate>("expandableSize") != 32 || offsetof<Candidate>("flags") != 40 ||
    offsetof<Candidate>("stream") != 44 || offsetof<Candidate>() != <usize>RECORD_SIZE) {
  // @ts-ignore: deliberately undefined
  Candidate_does_not_match_the_48_byte_record_of_ABI_3_4();
}

// Plan records (ABI 1.5, ABI §3.8). An offline policy re-exports the
// 1.5 marker and policy_scratch, and exports the two planning hooks itself:
//
//   export { fraglab_abi_v1_5, policy_scratch } from "./fraglab";
//
//   // Before the first event, repeatedly: planRecord(0..count-1) are the
//   // next allocations of the workload, in event order; done is 1 on the
//   // last call (count may be 0). Answer 0 before it, then the arena size.
//   export function policy_plan(count: i32, done: i32): i64 {
//     for (let i = 0; i < count; i++) {
//       const r = planRecord(i); // r.id, r.size, r.alloc, r.free, ...
//     }
//     return done ? ARENA_BYTES : 0;
//   }
//
//   // At each allocation: an offset in the arena, or DEFER.
//   export function policy_place(id: i64, rounded: i64, pool: i32, stream: i32, tag: i32): i64 {
//     return DEFER;
//   }
export const PLAN_RECORD_SIZE: i32 = 48;
export const PLAN_BATCH: i32 = 256; // most records of one policy_plan call
export const PLAN_NEVER: u64 = u64.MAX_VALUE; // PlanRecord.free when never freed

/** One plan record, read in place from the scratch area (offsets 0, 8,
 * 16, 24, 32, 36, 40, 44, checked below). Get one with planRecord(i). */
@unmanaged
export class PlanRecord {
  id: u64; // allocation id: policy_place's id
  size: u64; // requested bytes
  alloc: u64; // index of the allocation's event
  free: u64; // index of its free event, PLAN_NEVER when never freed
  stream: u32; // stream index
  tag: u32; // tag id
  pool: u32; // private memory pool, 0 the default pool
  flags: u32; // reserved, 0
}

if (offsetof<PlanRecord>("free") != 24 || offsetof<PlanRecord>("stream") != 32 ||
    offsetof<PlanRecord>("pool") != 40 || offsetof<PlanRecord>() != <usize>PLAN_RECORD_SIZE ||
    PLAN_BATCH * PLAN_RECORD_SIZE != MAX_CANDIDATES * RECORD_SIZE) {
  // @ts-ignore: deliberately undefined
  PlanRecord_does_not_match_the_48_byte_record_of_ABI_3_8();
}

/** The scratch area the host writes candidates to: room for MAX_CANDIDATES
 * records, so any candidate window fits; 8-byte aligned, static, never
 * moves. It is placed in the module only when something uses it
 * (policy_scratch or candidate). */
export const scratch: usize = memory.data(MAX_CANDIDATES * RECORD_SIZE, 8);

/** The scratch hook. A policy that exports policy_pick_block or policy_plan
 * re-exports it:
 *   export { policy_scratch } from "./fraglab";
 * It answers 0 (the load fails) if the host asks for more room than it has. */
export function policy_scratch(minBytes: i32): i32 {
  if (minBytes < 0 || minBytes > MAX_CANDIDATES * RECORD_SIZE) return 0;
  return <i32>scratch;
}

/** Plan record `i` of the count written before policy_plan (0 <= i < count);
 * the scratch area holds PLAN_BATCH of them. */
// @ts-ignore: decorator
@inline
export function planRecord(i: i32): PlanRecord {
  return changetype<PlanRecord>(scratch + <usize>i * <usize>PLAN_RECORD_SIZE);
}

/** Candidate `i` of the n written before policy_pick_block (0 <= i < n). */
// @ts-ignore: decorator
@inline
export function candidate(i: i32): Candidate {
  return changetype<Candidate>(scratch + <usize>i * <usize>RECORD_SIZE);
}

// ---------------------------------------------------------------------------
// UTF-8 in static buffers. AssemblyScript strings are UTF-16; the host
// wants UTF-8. utf8Put encodes into a bounded buffer without allocating,
// cutting only between characters.

/** Encodes s as UTF-8 at buf + at, writing no byte at or past buf + cap;
 * answers the new `at`. A character that does not fit whole is cut along
 * with the rest. Unpaired surrogates become U+FFFD. */
export function utf8Put(buf: usize, at: i32, cap: i32, s: string): i32 {
  const p = changetype<usize>(s);
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = <u32>load<u16>(p + (<usize>i << 1));
    if (c >= 0xd800 && c < 0xe000) {
      // A surrogate: a lead followed by a trail is one code point.
      if (c < 0xdc00 && i + 1 < n) {
        const c2 = <u32>load<u16>(p + (<usize>(i + 1) << 1));
        if (c2 >= 0xdc00 && c2 < 0xe000) {
          c = 0x10000 + (((c - 0xd800) << 10) | (c2 - 0xdc00));
          i++;
        } else {
          c = 0xfffd;
        }
      } else {
        c = 0xfffd;
      }
    }
    const w = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (at + w > cap) break;
    const q = buf + <usize>at;
    if (w == 1) {
      store<u8>(q, c);
    } else if (w == 2) {
      store<u8>(q, 0xc0 | (c >> 6));
      store<u8>(q, 0x80 | (c & 0x3f), 1);
    } else if (w == 3) {
      store<u8>(q, 0xe0 | (c >> 12));
      store<u8>(q, 0x80 | ((c >> 6) & 0x3f), 1);
      store<u8>(q, 0x80 | (c & 0x3f), 2);
    } else {
      store<u8>(q, 0xf0 | (c >> 18));
      store<u8>(q, 0x80 | ((c >> 12) & 0x3f), 1);
      store<u8>(q, 0x80 | ((c >> 6) & 0x3f), 2);
      store<u8>(q, 0x80 | (c & 0x3f), 3);
    }
    at += w;
  }
  return at;
}

/** Writes v in decimal at buf + at, within cap; answers the new `at`. */
export function decimalPut(buf: usize, at: i32, cap: i32, v: i64): i32 {
  // 20 digits and a sign hold every i64; build them backwards.
  const digits = memory.data(20);
  let u: u64 = v < 0 ? <u64>0 - <u64>v : <u64>v;
  let n = 0;
  do {
    store<u8>(digits + <usize>(19 - n), <u32>(u % 10) + 0x30);
    u /= 10;
    n++;
  } while (u != 0);
  if (v < 0) {
    store<u8>(digits + <usize>(19 - n), 0x2d); // '-'
    n++;
  }
  for (let i = 20 - n; i < 20 && at < cap; i++) {
    store<u8>(buf + <usize>at, load<u8>(digits + <usize>i));
    at++;
  }
  return at;
}

// Names of parameters are encoded here before the call; 1 KiB holds any
// reasonable name (a longer one traps, with an error text saying so).
const NAME_CAP: i32 = 1024;
const NAME_MAX: i32 = NAME_CAP - 4; // an encoding this short was not cut
const nameBuf: usize = memory.data(NAME_CAP);

function encodeName(name: string): i32 {
  const n = utf8Put(nameBuf, 0, NAME_CAP, name);
  if (n > NAME_MAX) {
    text.clear();
    text.add("fraglab: a parameter name longer than ");
    text.addI64(NAME_MAX);
    text.add(" bytes");
    text.setError();
    unreachable();
  }
  return n;
}

// ---------------------------------------------------------------------------
// Typed helpers.

/** Parameter `name` as an integer, or `def` when the run does not give it.
 * Read every parameter in policy_init (the host refuses a parameter the
 * policy never read). Allocates nothing. */
export function paramI64(name: string, def: i64): i64 {
  return hostParamI64(nameBuf, encodeName(name), def);
}

/** Parameter `name` as a float, or `def` when absent. Allocates nothing. */
export function paramF64(name: string, def: f64): f64 {
  return hostParamF64(nameBuf, encodeName(name), def);
}

/** Parameter `name` as a string, or null when absent. Allocates the string
 * (never freed with --runtime stub): call it in policy_init only. */
export function paramStr(name: string): string | null {
  const nameLen = encodeName(name);
  const cap: i32 = 256;
  let buf = heap.alloc(<usize>cap);
  let n = hostParamStr(nameBuf, nameLen, buf, cap);
  if (n < 0) return null;
  if (n > cap) {
    buf = heap.alloc(<usize>n);
    n = hostParamStr(nameBuf, nameLen, buf, n);
  }
  return String.UTF8.decodeUnsafe(buf, <usize>n);
}

/** The name of tag id `tag`, or null for an unknown id. Allocates the
 * string (never freed with --runtime stub): call it in policy_init, or once
 * per tag and keep the answer. */
export function tagName(tag: i32): string | null {
  const cap: i32 = 256;
  let buf = heap.alloc(<usize>cap);
  let n = hostTagName(tag, buf, cap);
  if (n < 0) return null;
  if (n > cap) {
    buf = heap.alloc(<usize>n);
    n = hostTagName(tag, buf, n);
  }
  return String.UTF8.decodeUnsafe(buf, <usize>n);
}

/** The allocator's state: STAT_* with its argument (a pool for the per-pool
 * keys); STAT_UNKNOWN for an unknown key. */
// @ts-ignore: decorator
@inline
export function stat(key: i32, arg: i32 = 0): i64 {
  return hostStat(key, arg);
}

/** While an allocation is served (ABI 1.4, STAT_REQUEST_PRIVATE_POOL): the
 * private memory pool it is made to, 0 the default pool; -1 outside an
 * allocation, in policy_init and on a host older than 1.4. */
// @ts-ignore: decorator
@inline
export function requestPrivatePool(): i64 {
  const pool = hostStat(STAT_REQUEST_PRIVATE_POOL, 0);
  return pool < 0 ? -1 : pool;
}

/** Sets CONFIG_* `key` in policy_init: the value in force, or ERROR. */
// @ts-ignore: decorator
@inline
export function config(key: i32, value: i64): i64 {
  return hostConfig(key, value);
}

/** Asks for a candidate window of n (1..MAX_CANDIDATES) in policy_init;
 * true when the host took it. */
export function setCandidateWindow(n: i32): bool {
  return hostConfig(CONFIG_CANDIDATE_WINDOW, n) == <i64>n;
}

/** Declares the hooks the module really implements (hookBit(HOOK_*) | …) in
 * policy_init; true when the host took the mask. Needs the 1.1 marker. */
export function setHookMask(mask: i64): bool {
  return hostConfig(CONFIG_HOOKS, mask) == mask;
}

/** One line for the run's log at level LOG_*. Allocates nothing; the line is
 * cut at 4 KiB. It replaces what `text` holds. */
export function log(level: i32, msg: string): void {
  text.clear();
  text.add(msg);
  text.log(level);
}

/** Sets the error text and answers ERROR: `return fail("why");` fails the
 * hook. Allocates nothing. It replaces what `text` holds. */
export function fail(msg: string): i64 {
  text.clear();
  text.add(msg);
  return text.fail();
}

/** A 4 KiB static text buffer to build log lines and error texts with
 * numbers in them, without allocating:
 *
 *   text.clear();
 *   text.add("classes_per_doubling=");
 *   text.addI64(v);
 *   text.add(": must be 1, 2, 4, 8 or 16");
 *   return text.fail();
 *
 * Text past 4 KiB (what the host keeps of an error) is dropped. */
export namespace text {
  const CAP: i32 = 4096;
  const buf: usize = memory.data(CAP);
  let len: i32 = 0;

  /** Empties the buffer. */
  export function clear(): void {
    len = 0;
  }

  /** Appends s. */
  export function add(s: string): void {
    len = utf8Put(buf, len, CAP, s);
  }

  /** Appends v in decimal. */
  export function addI64(v: i64): void {
    len = decimalPut(buf, len, CAP, v);
  }

  /** Hands the text to the host as the error explanation. */
  export function setError(): void {
    hostErrorSet(buf, len);
  }

  /** Hands the text to the host as the error explanation; answers ERROR. */
  export function fail(): i64 {
    hostErrorSet(buf, len);
    return ERROR;
  }

  /** Writes the text as one log line at level LOG_*. */
  export function log(level: i32): void {
    hostLog(level, buf, len);
  }
}
