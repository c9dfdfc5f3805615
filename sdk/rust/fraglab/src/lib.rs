//! The Rust SDK for fraglab policy modules, policy ABI v1.5.
//!
//! `sdk/ABI.md` is the normative contract; this crate restates it in Rust
//! and mirrors the constants of `sdk/abi/abi.go` and `sdk/c/fraglab.h`. It
//! is `no_std`, needs no allocator and builds with rustc 1.63 for
//! `wasm32-unknown-unknown`.
//!
//! A policy is a type implementing [`Policy`]: [`Policy::init`] builds it in
//! `policy_init` (read parameters there), and every hook method it does not
//! override answers [`DEFER`]. [`export_policy!`] emits the module's
//! exports and takes the list of hooks the type really implements, which
//! becomes the hook mask (ABI §5.5, config key 2): the host calls only
//! those and applies its defaults to the others at no cost. The module
//! declares ABI 1.5, so it needs a 1.5 host; of 1.2's additions,
//! [`Policy::merge_repeat`] makes merges cascade (config key 3) and
//! [`merge_offsets`] gives the offsets a buddy allocator needs; of 1.3's,
//! [`Policy::reserve_limit`] caps the bytes reserved from the device
//! (config key 4); of 1.4's, [`request_private_pool`] and the stat keys
//! [`STAT_PRIVATE_RESERVED`] and [`STAT_PENDING_FREE`] show the host's
//! private memory pools and frees that wait for other streams; of 1.5's,
//! [`ACT_STITCH`] and [`ACT_RELEASE_STITCHED`] (release actions),
//! [`Policy::stitch_keep`] (config key 5) and offline planning
//! ([`Policy::plan`] and [`Policy::place`] with [`PlanRecord`]s, listed as
//! `plan` in [`export_policy!`]).
//!
//! ```ignore
//! #![no_std]
//! use fraglab::{Error, Policy};
//!
//! pub struct Page4K;
//!
//! impl Policy for Page4K {
//!     fn init() -> Result<Self, Error> {
//!         Ok(Page4K)
//!     }
//!     fn round_size(&mut self, size: i64, _stream: i32, _tag: i32) -> i64 {
//!         (size + 4095) & !4095
//!     }
//! }
//!
//! fraglab::export_policy!(Page4K, hooks: [round_size]);
//! ```
//!
//! Rules: the module is `no_std` with no allocator; a panic traps (the run
//! stops with a trap and the module is never called again), so return
//! [`ERROR`] through [`fail`] or [`errorf!`] to fail with a message.
//! Integer overflow wraps in release builds and panics (traps) in debug
//! builds. See `sdk/rust/README.md` for the build commands.
#![no_std]

use core::fmt;

// ---------------------------------------------------------------------------
// Version (ABI §1, §8). export_policy! exports the marker fraglab_abi_v1_5.

/// ABI major version this crate builds modules for.
pub const ABI_MAJOR: i32 = 1;
/// ABI minor version this crate builds modules for.
pub const ABI_MINOR: i32 = 5;

// ---------------------------------------------------------------------------
// Hook answers (ABI §2): a non-negative answer is the decision, a negative
// one a status.

/// Use the host default for this one decision.
pub const DEFER: i64 = -1;
/// `pick_block` only: take no cached block (the host grows instead).
pub const NONE: i64 = -2;
/// The policy failed; the text given to [`error`] explains why.
pub const ERROR: i64 = -3;

// Sizes (ABI §2): every size a policy answers is a multiple of BLOCK_ALIGN
// and at most MAX_SIZE.

/// The block alignment: every size is a multiple of it.
pub const BLOCK_ALIGN: i64 = 512;
/// The largest size a policy may answer, 2^48.
pub const MAX_SIZE: i64 = 1 << 48;
/// 2^10 bytes.
pub const KIB: i64 = 1 << 10;
/// 2^20 bytes.
pub const MIB: i64 = 1 << 20;
/// 2^30 bytes.
pub const GIB: i64 = 1 << 30;

// Pools (ABI §2): 0 is PyTorch's small pool, 1 its large pool, 2..7 extra
// pools; host defaults treat every pool but 0 as large.

/// PyTorch's small pool.
pub const POOL_SMALL: i32 = 0;
/// PyTorch's large pool.
pub const POOL_LARGE: i32 = 1;
/// Pool ids are `0..MAX_POOLS`.
pub const MAX_POOLS: i32 = 8;

// Search orders: answers of `search_order` (ABI §3.2 step 3).

/// Size ascending, then address.
pub const ORDER_BEST_FIT: i64 = 0;
/// Address ascending (first fit).
pub const ORDER_ADDRESS: i64 = 1;
/// Size descending, then address.
pub const ORDER_LARGEST: i64 = 2;

// Block flags: `split`'s flags and `Candidate::flags` (ABI §3.2, §3.4).

/// The block lies in an expandable segment.
pub const FLAG_EXPANDABLE: u32 = 1 << 0;
/// The block spans its whole classic segment.
pub const FLAG_WHOLE_SEGMENT: u32 = 1 << 1;
/// ABI 1.5: the block is a stitched range's (ABI §3.7).
pub const FLAG_STITCHED: u32 = 1 << 2;

// Merge sides: `merge`'s side (ABI §3.5).

/// The free neighbour lies below the freed block.
pub const SIDE_PREV: i32 = 0;
/// The free neighbour lies above the freed block.
pub const SIDE_NEXT: i32 = 1;

// Release phases: `release`'s phase (ABI §3.3).

/// No cached block fits; the host is about to grow.
pub const PHASE_BEFORE_GROW: i32 = 0;
/// Growing failed: the device is full.
pub const PHASE_GROW_FAILED: i32 = 1;

// Release actions (ABI §3.3): answer = arg << ACTION_BITS | action; build
// one with release_answer.

/// Release nothing (phase 1: the allocation fails with OOM).
pub const ACT_NOTHING: i64 = 0;
/// Release every free cached segment (`empty_cache`); arg 0.
pub const ACT_RELEASE_CACHED: i64 = 1;
/// Release oversize free segments of this pool and stream; arg = threshold > 0.
pub const ACT_RELEASE_OVERSIZE: i64 = 2;
/// Release old free segments of the large pools; arg = target bytes > 0.
pub const ACT_RELEASE_AGED: i64 = 3;
/// ABI 1.5 (ABI §3.7): map free pages of the request's pool's expandable
/// segments into one new range that serves the request; arg 0, or
/// [`STITCH_GROW`] to map new pages for the part the free pages lack.
pub const ACT_STITCH: i64 = 4;
/// ABI 1.5 (ABI §3.7): the argument of [`ACT_STITCH`] that first maps new
/// pages into the expandable segment for what the free pages lack
/// (GMLake's state S4); answer `STITCH_GROW << ACTION_BITS | ACT_STITCH`.
pub const STITCH_GROW: i64 = 1;
/// ABI 1.5 (ABI §3.7): tear down every free stitched range; arg 0.
pub const ACT_RELEASE_STITCHED: i64 = 5;
/// Bits of the action in a release answer.
pub const ACTION_BITS: u32 = 4;
/// Mask of the action in a release answer.
pub const ACTION_MASK: i64 = (1 << ACTION_BITS) - 1;
/// Most release attempts for one allocation.
pub const MAX_RELEASE_ATTEMPTS: i32 = 16;

/// A `release` answer: `arg << ACTION_BITS | action`.
pub const fn release_answer(action: i64, arg: i64) -> i64 {
    (arg << ACTION_BITS) | action
}

// Observe kinds: `observe`'s kind (ABI §3.2 step 7).

/// An allocation was served: id, rounded size.
pub const OBSERVE_ALLOC: i32 = 0;
/// A block was freed: id, block size.
pub const OBSERVE_FREE: i32 = 1;
/// An allocation failed: id, rounded size.
pub const OBSERVE_OOM: i32 = 2;
/// The workload called `empty_cache`: id 0, bytes released.
pub const OBSERVE_EMPTY_CACHE: i32 = 3;

// Stat keys of stat (ABI §5.3).

/// Trace event index being served.
pub const STAT_EVENT_INDEX: i32 = 0;
/// Bytes held from the device.
pub const STAT_RESERVED: i32 = 1;
/// Bytes in allocated blocks.
pub const STAT_ALLOCATED: i32 = 2;
/// Bytes requested by live allocations.
pub const STAT_REQUESTED: i32 = 3;
/// Active bytes.
pub const STAT_ACTIVE: i32 = 4;
/// Device capacity, -1 when unlimited.
pub const STAT_CAPACITY: i32 = 5;
/// Device bytes free.
pub const STAT_DEVICE_FREE: i32 = 6;
/// Classic plus expandable segments held now.
pub const STAT_SEGMENTS: i32 = 7;
/// arg = pool: bytes in free blocks.
pub const STAT_POOL_FREE: i32 = 8;
/// arg = pool: size of the largest free block.
pub const STAT_POOL_LARGEST: i32 = 9;
/// arg = pool: reserved bytes.
pub const STAT_POOL_RESERVED: i32 = 10;
/// OOMs so far.
pub const STAT_OOMS: i32 = 11;
/// Device granularity in bytes.
pub const STAT_GRANULARITY: i32 = 12;
/// Peak reserved bytes so far.
pub const STAT_PEAK_RESERVED: i32 = 13;
/// Allocated blocks.
pub const STAT_LIVE_BLOCKS: i32 = 14;
/// ABI 1.2, during `merge` (-1 elsewhere): the freed block's offset in its
/// segment. [`merge_offsets`] reads both offsets.
pub const STAT_MERGE_BLOCK_OFFSET: i32 = 15;
/// ABI 1.2, during `merge`: the free neighbour's offset in its segment.
pub const STAT_MERGE_NEIGHBOUR_OFFSET: i32 = 16;
/// ABI 1.4: the private memory pool of the allocation being served (ABI
/// §3.6): 0 the default pool, its id (≥ 1) for a private one, -1 outside an
/// allocation. [`request_private_pool`] reads it.
pub const STAT_REQUEST_PRIVATE_POOL: i32 = 17;
/// ABI 1.4: bytes reserved by private memory pools (their share of
/// [`STAT_RESERVED`]).
pub const STAT_PRIVATE_RESERVED: i32 = 18;
/// ABI 1.4: bytes in blocks freed with `free_requested` that wait for other
/// streams and are not reusable yet.
pub const STAT_PENDING_FREE: i32 = 19;
/// ABI 1.5: bytes mapped in stitched ranges (ABI §3.7).
pub const STAT_STITCHED: i32 = 20;
/// ABI 1.5: of [`STAT_STITCHED`], the bytes in free stitched blocks.
pub const STAT_STITCHED_FREE: i32 = 21;
/// The answer for an unknown stat key.
pub const STAT_UNKNOWN: i64 = i64::MIN;

// Config keys of config, in `Policy::init` only (ABI §5.5). export_policy!
// sets all five itself.

/// The candidate window (1..=MAX_CANDIDATES); see `Policy::candidate_window`.
pub const CONFIG_CANDIDATE_WINDOW: i32 = 1;
/// The hook mask (ABI 1.1); export_policy! sets it from its hook list.
pub const CONFIG_HOOKS: i32 = 2;
/// Repeated merges (ABI 1.2); see `Policy::merge_repeat`.
pub const CONFIG_MERGE_REPEAT: i32 = 3;
/// The most bytes the allocator may hold from the device, 0..=MAX_SIZE
/// (ABI 1.3; 0, the default: no limit); see `Policy::reserve_limit`.
pub const CONFIG_RESERVE_LIMIT: i32 = 4;
/// Stitch keeping (ABI 1.5): 1 = a freed stitched block stays mapped and
/// cached; see `Policy::stitch_keep`.
pub const CONFIG_STITCH_KEEP: i32 = 5;
/// The candidate window when the policy sets none.
pub const DEFAULT_CANDIDATE_WINDOW: i32 = 8;
/// The largest candidate window.
pub const MAX_CANDIDATES: usize = 256;

// Log levels of log (ABI §5.1).

/// Debug.
pub const LOG_DEBUG: i32 = 0;
/// Info.
pub const LOG_INFO: i32 = 1;
/// Warning.
pub const LOG_WARN: i32 = 2;
/// Error.
pub const LOG_ERROR: i32 = 3;

// Well-known tags (ABI §6); other names get ids from FIRST_CUSTOM_TAG on,
// and tag_name gives their text.

/// Unknown category.
pub const TAG_UNKNOWN: i32 = 0;
/// Model weights.
pub const TAG_WEIGHT: i32 = 1;
/// Activations.
pub const TAG_ACTIVATION: i32 = 2;
/// Gradients.
pub const TAG_GRADIENT: i32 = 3;
/// Optimizer state.
pub const TAG_OPTIMIZER: i32 = 4;
/// KV cache.
pub const TAG_KV_CACHE: i32 = 5;
/// Workspace.
pub const TAG_WORKSPACE: i32 = 6;
/// The first id of the workload's own tag names.
pub const FIRST_CUSTOM_TAG: i32 = 16;

// Hook numbers (ABI §5.5): bit h of the hook mask says hook h is implemented.

/// `policy_init`.
pub const HOOK_INIT: u32 = 0;
/// `policy_scratch`.
pub const HOOK_SCRATCH: u32 = 1;
/// `policy_round_size`.
pub const HOOK_ROUND_SIZE: u32 = 2;
/// `policy_choose_pool`.
pub const HOOK_CHOOSE_POOL: u32 = 3;
/// `policy_search_order`.
pub const HOOK_SEARCH_ORDER: u32 = 4;
/// `policy_pick_block`.
pub const HOOK_PICK_BLOCK: u32 = 5;
/// `policy_split`.
pub const HOOK_SPLIT: u32 = 6;
/// `policy_merge`.
pub const HOOK_MERGE: u32 = 7;
/// `policy_segment_mode`.
pub const HOOK_SEGMENT_MODE: u32 = 8;
/// `policy_segment_size`.
pub const HOOK_SEGMENT_SIZE: u32 = 9;
/// `policy_expand_size`.
pub const HOOK_EXPAND_SIZE: u32 = 10;
/// `policy_release`.
pub const HOOK_RELEASE: u32 = 11;
/// `policy_observe`.
pub const HOOK_OBSERVE: u32 = 12;
/// `policy_plan` (ABI 1.5).
pub const HOOK_PLAN: u32 = 13;
/// `policy_place` (ABI 1.5).
pub const HOOK_PLACE: u32 = 14;
/// The number of hooks.
pub const NUM_HOOKS: u32 = 15;

// ---------------------------------------------------------------------------
// Plan records (ABI 1.5, ABI §3.8).

/// The size in bytes of one plan record.
pub const PLAN_RECORD_SIZE: usize = 48;
/// The most plan records of one `policy_plan` call.
pub const PLAN_BATCH: usize = 256;
/// [`PlanRecord::free`] of an allocation the workload never frees.
pub const PLAN_NEVER: u64 = u64::MAX;

/// One allocation of the workload handed to [`Policy::plan`]: a plan record
/// of ABI §3.8, `repr(C)`, mapping the record the host wrote directly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanRecord {
    /// Allocation id: `place`'s id.
    pub id: u64,
    /// Requested bytes.
    pub size: u64,
    /// Index of the allocation's event.
    pub alloc: u64,
    /// Index of its free event, [`PLAN_NEVER`] when never freed.
    pub free: u64,
    /// Stream index.
    pub stream: u32,
    /// Tag id.
    pub tag: u32,
    /// Private memory pool, 0 the default pool.
    pub pool: u32,
    /// Reserved, 0.
    pub flags: u32,
}

const _: () = assert!(core::mem::size_of::<PlanRecord>() == PLAN_RECORD_SIZE);
// The scratch buffer of candidates holds exactly PLAN_BATCH plan records.
const _: () = assert!(PLAN_BATCH * PLAN_RECORD_SIZE == MAX_CANDIDATES * RECORD_SIZE);

impl PlanRecord {
    /// Whether the workload frees the allocation.
    pub fn freed(&self) -> bool {
        self.free != PLAN_NEVER
    }
}

// ---------------------------------------------------------------------------
// Candidate records (ABI §3.4).

/// The size in bytes of one candidate record.
pub const RECORD_SIZE: usize = 48;

/// One free block offered to [`Policy::pick_block`]: a candidate record of
/// ABI §3.4. wasm32 is little-endian and the struct is `repr(C)`, so it
/// maps the record the host wrote directly, without copying.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Candidate {
    /// Block size.
    pub size: i64,
    /// Block address.
    pub addr: u64,
    /// Base address of the block's segment.
    pub segment_addr: u64,
    /// Segment size (expandable: its mapped bytes).
    pub segment_size: i64,
    /// Block size plus the unmapped range right after it.
    pub expandable_size: i64,
    /// `FLAG_EXPANDABLE`, `FLAG_WHOLE_SEGMENT`, `FLAG_STITCHED`.
    pub flags: u32,
    /// Stream index.
    pub stream: u32,
}

const _: () = assert!(core::mem::size_of::<Candidate>() == RECORD_SIZE);
const _: () = assert!(core::mem::align_of::<Candidate>() == 8);

impl Candidate {
    /// A record of zeros.
    pub const ZERO: Candidate = Candidate {
        size: 0,
        addr: 0,
        segment_addr: 0,
        segment_size: 0,
        expandable_size: 0,
        flags: 0,
        stream: 0,
    };

    /// Whether the block lies in an expandable segment.
    pub const fn expandable(&self) -> bool {
        self.flags & FLAG_EXPANDABLE != 0
    }

    /// Whether the block spans its whole classic segment.
    pub const fn whole_segment(&self) -> bool {
        self.flags & FLAG_WHOLE_SEGMENT != 0
    }
}

// ---------------------------------------------------------------------------
// Host imports of module "fraglab" (ABI §5), raw.

/// The raw host imports (ABI §5). Pointers are addresses in the module's
/// memory; strings are (pointer, byte length), never NUL-terminated. Prefer
/// the safe wrappers at the crate root.
pub mod sys {
    #[link(wasm_import_module = "fraglab")]
    extern "C" {
        /// A line for the run's log at level `LOG_*`.
        pub fn log(level: i32, ptr: *const u8, len: i32);
        /// The explanation of the next `ERROR` answer or trap.
        pub fn error_set(ptr: *const u8, len: i32);
        /// Parameter `name` as an integer, or `default` when absent.
        pub fn param_i64(name: *const u8, name_len: i32, default: i64) -> i64;
        /// Parameter `name` as a float, or `default` when absent.
        pub fn param_f64(name: *const u8, name_len: i32, default: f64) -> f64;
        /// Parameter `name` as text: -1 when absent, else its length;
        /// written to `buf` only if it fits in `limit` bytes.
        pub fn param_str(name: *const u8, name_len: i32, buf: *mut u8, limit: i32) -> i32;
        /// The allocator's state (`STAT_*`).
        pub fn stat(key: i32, arg: i32) -> i64;
        /// The name of tag `tag`: -1 when unknown, else its length;
        /// written to `buf` only if it fits in `limit` bytes.
        pub fn tag_name(tag: i32, buf: *mut u8, limit: i32) -> i32;
        /// Sets configuration `key` (in `policy_init` only): the value in
        /// force, or `ERROR`.
        pub fn config(key: i32, value: i64) -> i64;
    }
}

// ---------------------------------------------------------------------------
// Safe wrappers.

/// Parameter `name` as an integer, or `default` when the run does not set
/// it; `true` and `false` read as 1 and 0. Call it from [`Policy::init`]:
/// the host refuses a value that does not parse and a parameter the policy
/// never read.
pub fn param_i64(name: &str, default: i64) -> i64 {
    unsafe { sys::param_i64(name.as_ptr(), name.len() as i32, default) }
}

/// Parameter `name` as a boolean (`true`, `false`, or an integer, non-zero
/// being true), or `default` when the run does not set it.
pub fn param_bool(name: &str, default: bool) -> bool {
    param_i64(name, default as i64) != 0
}

/// Parameter `name` as a float, or `default` when the run does not set it.
pub fn param_f64(name: &str, default: f64) -> f64 {
    unsafe { sys::param_f64(name.as_ptr(), name.len() as i32, default) }
}

/// Parameter `name` as text: `None` when the run does not set it,
/// `Some(Ok(value))` when it fits in `buf`, `Some(Err(len))` when it needs
/// `len` bytes (call again with a larger buffer).
pub fn param_str<'a>(name: &str, buf: &'a mut [u8]) -> Option<Result<&'a [u8], usize>> {
    let limit = buf.len().min(i32::MAX as usize) as i32;
    let n = unsafe { sys::param_str(name.as_ptr(), name.len() as i32, buf.as_mut_ptr(), limit) };
    text_result(n, buf)
}

/// The name of tag id `tag`: `None` when unknown, `Some(Ok(name))` when it
/// fits in `buf`, `Some(Err(len))` when it needs `len` bytes.
pub fn tag_name(tag: i32, buf: &mut [u8]) -> Option<Result<&[u8], usize>> {
    let limit = buf.len().min(i32::MAX as usize) as i32;
    let n = unsafe { sys::tag_name(tag, buf.as_mut_ptr(), limit) };
    text_result(n, buf)
}

fn text_result(n: i32, buf: &[u8]) -> Option<Result<&[u8], usize>> {
    if n < 0 {
        None
    } else if n as usize <= buf.len() {
        Some(Ok(&buf[..n as usize]))
    } else {
        Some(Err(n as usize))
    }
}

/// The allocator's state: `key` is a `STAT_*` constant, `arg` the pool for
/// the per-pool keys. Unknown keys answer [`STAT_UNKNOWN`].
pub fn stat(key: i32, arg: i32) -> i64 {
    unsafe { sys::stat(key, arg) }
}

/// During [`Policy::merge`]: the offsets in their segment, in bytes from
/// the segment's base, of the freed block (as merged so far) and of its
/// free neighbour (ABI 1.2, [`STAT_MERGE_BLOCK_OFFSET`],
/// [`STAT_MERGE_NEIGHBOUR_OFFSET`]); `None` outside `merge`. A binary buddy
/// merges when the sizes are equal and the lower offset is a multiple of
/// twice the size.
pub fn merge_offsets() -> Option<(i64, i64)> {
    let block = stat(STAT_MERGE_BLOCK_OFFSET, 0);
    let neighbour = stat(STAT_MERGE_NEIGHBOUR_OFFSET, 0);
    if block < 0 || neighbour < 0 {
        None
    } else {
        Some((block, neighbour))
    }
}

/// While the host serves an allocation (every hook it asks then): the
/// private memory pool it is made to (ABI 1.4, [`STAT_REQUEST_PRIVATE_POOL`]),
/// `Some(0)` for the default pool, `Some(id)` for a private one; `None`
/// outside an allocation (a free, `empty_cache`) and in [`Policy::init`].
pub fn request_private_pool() -> Option<i64> {
    let pool = stat(STAT_REQUEST_PRIVATE_POOL, 0);
    if pool < 0 {
        None
    } else {
        Some(pool)
    }
}

/// Writes `msg` as one line of the run's log at level `LOG_*` (the host
/// keeps the first 1000 lines of a run). See [`logf!`] to format one.
pub fn log(level: i32, msg: &str) {
    unsafe { sys::log(level, msg.as_ptr(), msg.len() as i32) }
}

/// Sets configuration `key` to `value` and returns the value in force, or
/// [`ERROR`] for an unknown key or a value out of range (ABI §5.5). It
/// works in [`Policy::init`] only. [`export_policy!`] sets
/// [`CONFIG_HOOKS`], [`CONFIG_CANDIDATE_WINDOW`], [`CONFIG_MERGE_REPEAT`]
/// and [`CONFIG_RESERVE_LIMIT`] itself; this is for keys a later ABI minor
/// adds.
pub fn config(key: i32, value: i64) -> i64 {
    unsafe { sys::config(key, value) }
}

/// A failure whose text was handed to the host (`error_set`). Return it
/// from [`Policy::init`] as `Err`, or turn it into the [`ERROR`] answer of
/// a hook with `.into()`.
#[must_use = "return it: the host stops only on an ERROR answer"]
#[derive(Debug)]
pub struct Error(());

impl From<Error> for i64 {
    fn from(_: Error) -> i64 {
        ERROR
    }
}

/// Sets the error text (`error_set`, at most 4 KiB kept) and returns the
/// [`Error`] to hand back. See [`errorf!`] to format the text.
pub fn error(msg: &str) -> Error {
    unsafe { sys::error_set(msg.as_ptr(), msg.len() as i32) };
    Error(())
}

/// Sets the error text and returns [`ERROR`], for a hook:
/// `return fraglab::fail("no such pool");`.
pub fn fail(msg: &str) -> i64 {
    error(msg).into()
}

/// A fixed-capacity text buffer implementing `core::fmt::Write`, for
/// formatting without an allocator. Text past the capacity is dropped (at
/// a character boundary).
pub struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        FixedBuf { buf: [0; N], len: 0 }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever copied in.
        unsafe { core::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut n = s.len().min(room);
        while n < s.len() && !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Formats the error text (`core::fmt` syntax, into a 4 KiB stack buffer),
/// hands it to the host and evaluates to an [`Error`]:
///
/// ```ignore
/// return Err(fraglab::errorf!("knob={}: must be even", knob));     // in init
/// return fraglab::errorf!("pool {}: no such pool", pool).into();   // in a hook
/// ```
#[macro_export]
macro_rules! errorf {
    ($($arg:tt)*) => {{
        let mut buf = $crate::FixedBuf::<4096>::new();
        let _ = ::core::fmt::Write::write_fmt(&mut buf, ::core::format_args!($($arg)*));
        $crate::error(buf.as_str())
    }};
}

/// Formats one log line (`core::fmt` syntax, at most 1 KiB) and writes it
/// at `level`: `fraglab::logf!(fraglab::LOG_INFO, "window {}", w);`.
#[macro_export]
macro_rules! logf {
    ($level:expr, $($arg:tt)*) => {{
        let mut buf = $crate::FixedBuf::<1024>::new();
        let _ = ::core::fmt::Write::write_fmt(&mut buf, ::core::format_args!($($arg)*));
        $crate::log($level, buf.as_str())
    }};
}

// ---------------------------------------------------------------------------
// The policy.

/// A fraglab policy. Implement [`init`](Policy::init) and the hooks you
/// need, then list those hooks in [`export_policy!`]. Every hook method has
/// a default answering [`DEFER`], but the host calls only the hooks the
/// list declares, so an overridden method missing from the list is never
/// called. Hook arguments and answers are those of ABI §3.
pub trait Policy: Sized + 'static {
    /// Builds the policy, once, in `policy_init`, before any other hook.
    /// Read every parameter here. `Err` refuses the module with the
    /// error's text.
    fn init() -> Result<Self, Error>;

    /// The candidate window, the most candidates the host writes for
    /// [`pick_block`](Policy::pick_block) (1..=MAX_CANDIDATES); `None`
    /// keeps the host's default of [`DEFAULT_CANDIDATE_WINDOW`]. Asked
    /// once, after `init`.
    fn candidate_window(&self) -> Option<i32> {
        None
    }

    /// Whether merges cascade (ABI 1.2, config key 3, ABI §3.5): `true`
    /// makes the host, after a free merged the block with a neighbour, ask
    /// [`merge`](Policy::merge) again about the merged block's new
    /// neighbours until a round merges nothing, so a buddy allocator
    /// coalesces up to the largest free buddy. `false` (the default) asks
    /// once per side. Asked once, after `init`.
    fn merge_repeat(&self) -> bool {
        false
    }

    /// The most bytes the allocator may hold from the device (ABI 1.3,
    /// config key 4, ABI §5.5), as PyTorch's `per_process_memory_fraction`:
    /// a growth that would take the reserved bytes past it fails without a
    /// device call, as on a full device, and the release-and-retry path
    /// runs as usual. At most [`MAX_SIZE`]. 0 (the default) or a negative
    /// value: no limit, nothing is declared. Asked once, after `init`; a
    /// limit the host refuses fails `policy_init`.
    fn reserve_limit(&self) -> i64 {
        0
    }

    /// Whether a freed stitched block stays mapped and cached for reuse
    /// (ABI 1.5, config key 5, ABI §3.7); `false` (the default) tears its
    /// range down when it is freed. Asked once, after `init`.
    fn stitch_keep(&self) -> bool {
        false
    }

    /// Offline planning (ABI 1.5, ABI §3.8; list `plan` in
    /// [`export_policy!`]): called before the first event, repeatedly, with
    /// the next records (at most [`PLAN_BATCH`], one per allocation of the
    /// workload in event order; a view of the scratch buffer, valid only
    /// during the call); `done` is true on the last call, whose records may
    /// be empty. `Ok` of the last call is the arena's size in bytes (0: no
    /// arena); of the others it is ignored (the SDK answers 0). `Err` fails
    /// the run.
    fn plan(&mut self, records: &[PlanRecord], done: bool) -> Result<i64, Error> {
        let _ = (records, done);
        Ok(0)
    }

    /// At each allocation, after `round_size` and `choose_pool`, of a
    /// planning policy: an offset in the arena for the block of `rounded`
    /// bytes (inside the arena, overlapping no live placed block), or
    /// [`DEFER`] / [`NONE`] for the usual path.
    fn place(&mut self, id: i64, rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
        let _ = (id, rounded, pool, stream, tag);
        DEFER
    }

    /// The block size for a request of `size` bytes: a multiple of
    /// [`BLOCK_ALIGN`], ≥ size, ≤ [`MAX_SIZE`].
    fn round_size(&mut self, size: i64, stream: i32, tag: i32) -> i64 {
        let _ = (size, stream, tag);
        DEFER
    }

    /// The pool, `0..MAX_POOLS`, that serves a request of `rounded` bytes.
    fn choose_pool(&mut self, rounded: i64, stream: i32, tag: i32) -> i64 {
        let _ = (rounded, stream, tag);
        DEFER
    }

    /// The order (`ORDER_*`) in which the free blocks of (pool, stream)
    /// are offered.
    fn search_order(&mut self, rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
        let _ = (rounded, pool, stream, tag);
        DEFER
    }

    /// An index into `candidates` (1 to the window long, in the search
    /// order), or [`NONE`] to take no cached block. The slice is a view of
    /// the scratch buffer, valid only during the call.
    fn pick_block(&mut self, candidates: &[Candidate], rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
        let _ = (candidates, rounded, pool, stream, tag);
        DEFER
    }

    /// The size of the front piece of the chosen block: `rounded` (split
    /// off the request) ..= `block_size` (no split), a multiple of
    /// [`BLOCK_ALIGN`]. `flags` holds `FLAG_*` bits.
    fn split(&mut self, block_size: i64, rounded: i64, pool: i32, stream: i32, flags: i32, tag: i32) -> i64 {
        let _ = (block_size, rounded, pool, stream, flags, tag);
        DEFER
    }

    /// 1 to merge a freed block with its free neighbour on `side`
    /// (`SIDE_*`), 0 to keep them apart.
    fn merge(&mut self, block_size: i64, neighbour_size: i64, pool: i32, side: i32) -> i64 {
        let _ = (block_size, neighbour_size, pool, side);
        DEFER
    }

    /// Once per (pool, stream): 0 for classic segments, or the page size
    /// of an expandable segment.
    fn segment_mode(&mut self, pool: i32, stream: i32) -> i64 {
        let _ = (pool, stream);
        DEFER
    }

    /// The size of a new classic segment: a multiple of [`BLOCK_ALIGN`],
    /// ≥ rounded.
    fn segment_size(&mut self, rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
        let _ = (rounded, pool, stream, tag);
        DEFER
    }

    /// The bytes to map in an expandable segment: a multiple of `page`,
    /// ≥ missing.
    fn expand_size(&mut self, missing: i64, rounded: i64, pool: i32, stream: i32, page: i64) -> i64 {
        let _ = (missing, rounded, pool, stream, page);
        DEFER
    }

    /// What to release: [`release_answer`]`(ACT_*, arg)`.
    fn release(&mut self, phase: i32, rounded: i64, pool: i32, stream: i32, attempt: i32) -> i64 {
        let _ = (phase, rounded, pool, stream, attempt);
        DEFER
    }

    /// An event (`OBSERVE_*`) off the decision path: any answer ≥ 0;
    /// [`ERROR`] stops the run.
    fn observe(&mut self, kind: i32, id: i64, size: i64, tag: i32) -> i64 {
        let _ = (kind, id, size, tag);
        DEFER
    }
}

/// Emits the module's exports for policy type `$ty`: the version marker
/// `fraglab_abi_v1_5`, `policy_init`, `policy_scratch` and every
/// `policy_*` hook, forwarding to the one instance that `Policy::init`
/// builds. The `hooks` list names the hooks `$ty` really implements
/// (`round_size`, `choose_pool`, `search_order`, `pick_block`, `split`,
/// `merge`, `segment_mode`, `segment_size`, `expand_size`, `release`,
/// `observe`, and `plan` for both planning hooks, `plan` and `place`, of an
/// offline policy); `policy_init` declares them as the hook mask, so the host
/// never calls the others. A misspelt name does not compile. Use it once,
/// at the crate root of the cdylib:
///
/// ```ignore
/// fraglab::export_policy!(SizeClass, hooks: [round_size, split]);
/// ```
#[macro_export]
macro_rules! export_policy {
    ($ty:ty, hooks: [$($hook:ident),* $(,)?] $(,)?) => {
        const _: () = {
            static mut POLICY: ::core::option::Option<$ty> = ::core::option::Option::None;

            /// The hook mask: policy_init, plus the listed hooks.
            const MASK: i64 = (1 << $crate::HOOK_INIT) $(| $crate::__hook_bits!($hook))*;

            #[inline(always)]
            fn policy() -> &'static mut $ty {
                // The host calls no hook before policy_init succeeded, and
                // wasm32 has one thread.
                match unsafe { &mut *::core::ptr::addr_of_mut!(POLICY) } {
                    ::core::option::Option::Some(p) => p,
                    ::core::option::Option::None => $crate::__rt::trap(),
                }
            }

            #[no_mangle]
            pub extern "C" fn fraglab_abi_v1_5() {}

            #[no_mangle]
            pub extern "C" fn policy_init() -> i64 {
                match <$ty as $crate::Policy>::init() {
                    ::core::result::Result::Ok(p) => unsafe {
                        *::core::ptr::addr_of_mut!(POLICY) = ::core::option::Option::Some(p);
                    },
                    ::core::result::Result::Err(e) => return e.into(),
                }
                let p = policy();
                $crate::__rt::configure(
                    $crate::Policy::candidate_window(p),
                    $crate::Policy::merge_repeat(p),
                    $crate::Policy::reserve_limit(p),
                    $crate::Policy::stitch_keep(p),
                    MASK,
                )
            }

            #[no_mangle]
            pub extern "C" fn policy_scratch(min_bytes: i32) -> i32 {
                $crate::__rt::scratch(min_bytes)
            }

            #[no_mangle]
            pub extern "C" fn policy_round_size(size: i64, stream: i32, tag: i32) -> i64 {
                $crate::Policy::round_size(policy(), size, stream, tag)
            }

            #[no_mangle]
            pub extern "C" fn policy_choose_pool(rounded: i64, stream: i32, tag: i32) -> i64 {
                $crate::Policy::choose_pool(policy(), rounded, stream, tag)
            }

            #[no_mangle]
            pub extern "C" fn policy_search_order(rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
                $crate::Policy::search_order(policy(), rounded, pool, stream, tag)
            }

            #[no_mangle]
            pub extern "C" fn policy_pick_block(n: i32, rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
                match $crate::__rt::candidates(n) {
                    ::core::option::Option::Some(c) => $crate::Policy::pick_block(policy(), c, rounded, pool, stream, tag),
                    ::core::option::Option::None => $crate::fail("policy_pick_block: n out of range 1..256"),
                }
            }

            #[no_mangle]
            pub extern "C" fn policy_split(block_size: i64, rounded: i64, pool: i32, stream: i32, flags: i32, tag: i32) -> i64 {
                $crate::Policy::split(policy(), block_size, rounded, pool, stream, flags, tag)
            }

            #[no_mangle]
            pub extern "C" fn policy_merge(block_size: i64, neighbour_size: i64, pool: i32, side: i32) -> i64 {
                $crate::Policy::merge(policy(), block_size, neighbour_size, pool, side)
            }

            #[no_mangle]
            pub extern "C" fn policy_segment_mode(pool: i32, stream: i32) -> i64 {
                $crate::Policy::segment_mode(policy(), pool, stream)
            }

            #[no_mangle]
            pub extern "C" fn policy_segment_size(rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
                $crate::Policy::segment_size(policy(), rounded, pool, stream, tag)
            }

            #[no_mangle]
            pub extern "C" fn policy_expand_size(missing: i64, rounded: i64, pool: i32, stream: i32, page: i64) -> i64 {
                $crate::Policy::expand_size(policy(), missing, rounded, pool, stream, page)
            }

            #[no_mangle]
            pub extern "C" fn policy_release(phase: i32, rounded: i64, pool: i32, stream: i32, attempt: i32) -> i64 {
                $crate::Policy::release(policy(), phase, rounded, pool, stream, attempt)
            }

            #[no_mangle]
            pub extern "C" fn policy_observe(kind: i32, id: i64, size: i64, tag: i32) -> i64 {
                $crate::Policy::observe(policy(), kind, id, size, tag)
            }

            #[no_mangle]
            pub extern "C" fn policy_plan(count: i32, done: i32) -> i64 {
                match $crate::__rt::plan_records(count) {
                    ::core::option::Option::Some(r) => match $crate::Policy::plan(policy(), r, done != 0) {
                        ::core::result::Result::Ok(arena) => if done != 0 { arena } else { 0 },
                        ::core::result::Result::Err(e) => e.into(),
                    },
                    ::core::option::Option::None => $crate::fail("policy_plan: count out of range 0..256"),
                }
            }

            #[no_mangle]
            pub extern "C" fn policy_place(id: i64, rounded: i64, pool: i32, stream: i32, tag: i32) -> i64 {
                $crate::Policy::place(policy(), id, rounded, pool, stream, tag)
            }
        };
    };
}

/// The mask bits of a hook named in `export_policy!`'s list.
#[doc(hidden)]
#[macro_export]
macro_rules! __hook_bits {
    (round_size) => { (1 << $crate::HOOK_ROUND_SIZE) };
    (choose_pool) => { (1 << $crate::HOOK_CHOOSE_POOL) };
    (search_order) => { (1 << $crate::HOOK_SEARCH_ORDER) };
    (pick_block) => { ((1 << $crate::HOOK_PICK_BLOCK) | (1 << $crate::HOOK_SCRATCH)) };
    (split) => { (1 << $crate::HOOK_SPLIT) };
    (merge) => { (1 << $crate::HOOK_MERGE) };
    (segment_mode) => { (1 << $crate::HOOK_SEGMENT_MODE) };
    (segment_size) => { (1 << $crate::HOOK_SEGMENT_SIZE) };
    (expand_size) => { (1 << $crate::HOOK_EXPAND_SIZE) };
    (release) => { (1 << $crate::HOOK_RELEASE) };
    (observe) => { (1 << $crate::HOOK_OBSERVE) };
    (plan) => { ((1 << $crate::HOOK_PLAN) | (1 << $crate::HOOK_PLACE) | (1 << $crate::HOOK_SCRATCH)) };
}

/// Support for `export_policy!`; not part of the API.
#[doc(hidden)]
pub mod __rt {
    use super::{
        config, Candidate, PlanRecord, ABI_MAJOR, CONFIG_CANDIDATE_WINDOW, CONFIG_HOOKS, CONFIG_MERGE_REPEAT,
        CONFIG_RESERVE_LIMIT, CONFIG_STITCH_KEEP, MAX_CANDIDATES, MAX_SIZE, PLAN_BATCH,
    };

    // The ABI minor that added each config key configure sets, named in
    // the error when a host refuses one.
    const HOOKS_MINOR: i32 = 1;
    const MERGE_REPEAT_MINOR: i32 = 2;
    const RESERVE_LIMIT_MINOR: i32 = 3;
    const STITCH_KEEP_MINOR: i32 = 5;

    /// The candidate records the host writes before `policy_pick_block`,
    /// and the plan records it writes before `policy_plan`:
    /// a static, so it never moves, 8-byte aligned by `Candidate`.
    static mut SCRATCH: [Candidate; MAX_CANDIDATES] = [Candidate::ZERO; MAX_CANDIDATES];

    /// `policy_scratch`: the scratch address, or 0 when it is too small.
    pub fn scratch(min_bytes: i32) -> i32 {
        let have = core::mem::size_of::<[Candidate; MAX_CANDIDATES]>();
        if min_bytes < 0 || min_bytes as usize > have {
            return 0;
        }
        // (addr_of! of a static mut needs unsafe in rustc 1.63, not later.)
        #[allow(unused_unsafe)]
        let addr = unsafe { core::ptr::addr_of!(SCRATCH) };
        addr as usize as i32
    }

    /// The first `n` records, or `None` when `n` is out of range.
    pub fn candidates(n: i32) -> Option<&'static [Candidate]> {
        if n < 1 || n as usize > MAX_CANDIDATES {
            return None;
        }
        Some(unsafe { core::slice::from_raw_parts(core::ptr::addr_of!(SCRATCH) as *const Candidate, n as usize) })
    }

    /// The first `count` plan records in the scratch buffer, or `None`
    /// when `count` is out of range.
    pub fn plan_records(count: i32) -> Option<&'static [PlanRecord]> {
        if count < 0 || count as usize > PLAN_BATCH {
            return None;
        }
        Some(unsafe { core::slice::from_raw_parts(core::ptr::addr_of!(SCRATCH) as *const PlanRecord, count as usize) })
    }

    /// The end of `policy_init`: declares the candidate window, repeated
    /// merges, the reserve limit (when positive), stitch keeping and the
    /// hook mask.
    pub fn configure(window: Option<i32>, merge_repeat: bool, reserve_limit: i64, stitch_keep: bool, mask: i64) -> i64 {
        if let Some(w) = window {
            if config(CONFIG_CANDIDATE_WINDOW, w as i64) != w as i64 {
                return crate::errorf!("candidate window {}: must be 1..{}", w, MAX_CANDIDATES).into();
            }
        }
        if merge_repeat {
            let got = config(CONFIG_MERGE_REPEAT, 1);
            if got != 1 {
                return crate::errorf!(
                    "config({}, 1) answered {}: the host does not accept repeated merges (ABI {}.{} needed)",
                    CONFIG_MERGE_REPEAT,
                    got,
                    ABI_MAJOR,
                    MERGE_REPEAT_MINOR
                )
                .into();
            }
        }
        if reserve_limit > 0 {
            let got = config(CONFIG_RESERVE_LIMIT, reserve_limit);
            if got != reserve_limit {
                return crate::errorf!(
                    "config({}, {}) answered {}: the host does not accept the reserve limit (ABI {}.{} needed; at most {} bytes)",
                    CONFIG_RESERVE_LIMIT,
                    reserve_limit,
                    got,
                    ABI_MAJOR,
                    RESERVE_LIMIT_MINOR,
                    MAX_SIZE
                )
                .into();
            }
        }
        if stitch_keep {
            let got = config(CONFIG_STITCH_KEEP, 1);
            if got != 1 {
                return crate::errorf!(
                    "config({}, 1) answered {}: the host does not keep stitched blocks (ABI {}.{} needed)",
                    CONFIG_STITCH_KEEP,
                    got,
                    ABI_MAJOR,
                    STITCH_KEEP_MINOR
                )
                .into();
            }
        }
        let got = config(CONFIG_HOOKS, mask);
        if got != mask {
            return crate::errorf!(
                "config({}, {:#x}) answered {}: the host does not accept the hook mask (ABI {}.{} needed)",
                CONFIG_HOOKS,
                mask,
                got,
                ABI_MAJOR,
                HOOKS_MINOR
            )
            .into();
        }
        0
    }

    /// Stops the module: `unreachable` on wasm32.
    #[inline(always)]
    pub fn trap() -> ! {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        panic!("fraglab: trap");
    }
}

/// A panic traps: the host stops the run with the trap and never calls the
/// module again. (The panic message is not kept: formatting it would pull
/// in code no hook needs; use `fail` or `errorf!` for a message.)
#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
