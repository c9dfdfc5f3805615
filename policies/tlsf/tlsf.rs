//! tlsf: Two-Level Segregated Fit (Masmano, Ripoll, Crespo, Real, "TLSF: a
//! new dynamic memory allocator for real-time systems", ECRTS 2004) on
//! fraglab's host mechanism, written with the Rust SDK (`sdk/rust`).
//!
//! TLSF keeps one free list per size class. The first level splits sizes
//! by power of two (fl = floor(log2 size)); the second level splits each
//! power of two into 2^sli lists of equal width 2^(fl - sli). Below
//! 2^(9 + sli) bytes the lists are 512 bytes wide (the ABI's block
//! alignment plays the part of TLSF's minimum block size).
//!
//! - `round_size`: TLSF's mapping_search: the request (aligned to 512) is
//!   rounded up to the next list boundary, so every block of the list it
//!   maps to is large enough (good fit, O(1) search). As in the ECRTS 2004
//!   implementation (TLSF 2.x, where MAPPING_SEARCH rounds the size itself),
//!   the block handed out has that rounded size.
//! - `choose_pool`: pool 1 for every request: one TLSF instance.
//! - `pick_block`: the host offers the free blocks ≥ rounded in best-fit
//!   order (size, then address), up to 256 of them. The first one lies in
//!   the first non-empty list at or above the rounded request's list (the
//!   bitmap search of TLSF); the policy takes the lowest-addressed candidate
//!   of that list (TLSF takes the list's head, its most recently freed
//!   block, which the host's free index does not record).
//! - `split`: the remainder goes back to its list whenever it is at least
//!   one block (512 bytes).
//! - merges: the host default, immediate coalescing with both free
//!   neighbours (TLSF's boundary tags), within a segment.
//! - `segment_size`: a new area of max(rounded, area_mb MiB), rounded up to
//!   the device granularity (TLSF grows by adding an area of at least the
//!   request).
//! - `release`: nothing, ever: TLSF never gives an area back, so a growth
//!   the device refuses is an OOM.
//!
//! Parameters: `sli` (log2 of the second-level lists per power of two,
//! 1..=8, default 5 as in the reference implementation's MAX_LOG2_SLI);
//! `area_mb` (the smallest new area in MiB, 1..=2^28, default 2).
//!
//! Build (from policies/tlsf): see ../build.sh.
#![no_std]

use fraglab::{
    errorf, stat, Candidate, Error, Policy, ACT_NOTHING, BLOCK_ALIGN, DEFER, MAX_CANDIDATES, MAX_SIZE, MIB,
    POOL_LARGE, STAT_GRANULARITY,
};

/// log2 of the block alignment: the narrowest list is 512 bytes wide.
const ALIGN_SHIFT: u32 = 9;

/// The tlsf policy.
pub struct Tlsf {
    /// log2 of the number of second-level lists per power of two.
    sli: u32,
    /// The smallest new area, bytes.
    area: i64,
    /// The device granularity: new areas are multiples of it.
    granularity: i64,
}

/// floor(log2 v), v > 0.
fn fls(v: u64) -> u32 {
    63 - v.leading_zeros()
}

impl Tlsf {
    /// The first size mapped by the two-level rule, 2^(9 + sli); smaller
    /// sizes have lists 512 bytes wide.
    fn small_limit(&self) -> u64 {
        1 << (ALIGN_SHIFT + self.sli)
    }

    /// TLSF's mapping_search on a 512-aligned size: rounds it up to the
    /// lower boundary of the next list, unless it already is one.
    fn round_to_list(&self, size: u64) -> u64 {
        if size < self.small_limit() {
            return size;
        }
        let step = (1u64 << (fls(size) - self.sli)) - 1;
        (size + step) & !step
    }

    /// TLSF's mapping_insert, as one index: the list a free block of `size`
    /// bytes (a multiple of 512) belongs to. Lists are numbered in size
    /// order: the 2^sli linear lists of the small sizes first, then
    /// 2^sli lists per power of two.
    fn list(&self, size: u64) -> u64 {
        if size < self.small_limit() {
            return size >> ALIGN_SHIFT;
        }
        let fl = fls(size);
        let sl = (size >> (fl - self.sli)) - (1 << self.sli);
        (((fl - ALIGN_SHIFT - self.sli + 1) as u64) << self.sli) + sl
    }
}

impl Policy for Tlsf {
    fn init() -> Result<Self, Error> {
        let sli = fraglab::param_i64("sli", 5);
        let area_mb = fraglab::param_i64("area_mb", 2);
        if !(1..=8).contains(&sli) {
            return Err(errorf!("sli={}: must be 1..8 (log2 of the second-level lists per power of two)", sli));
        }
        if !(1..=MAX_SIZE / MIB).contains(&area_mb) {
            return Err(errorf!("area_mb={}: must be 1..{}", area_mb, MAX_SIZE / MIB));
        }
        let g = stat(STAT_GRANULARITY, 0);
        Ok(Tlsf {
            sli: sli as u32,
            area: area_mb * MIB,
            granularity: if g >= BLOCK_ALIGN && g % BLOCK_ALIGN == 0 { g } else { 2 * MIB },
        })
    }

    fn candidate_window(&self) -> Option<i32> {
        Some(MAX_CANDIDATES as i32)
    }

    /// Aligns to 512, then rounds up to the next list boundary (2^48, the
    /// largest size, is a list boundary for every sli). A request above
    /// 2^48 has no valid answer: the host default handles it.
    fn round_size(&mut self, size: i64, _stream: i32, _tag: i32) -> i64 {
        if size > MAX_SIZE {
            return DEFER;
        }
        let aligned = if size <= BLOCK_ALIGN {
            BLOCK_ALIGN
        } else {
            (size + BLOCK_ALIGN - 1) & !(BLOCK_ALIGN - 1)
        };
        self.round_to_list(aligned as u64) as i64
    }

    fn choose_pool(&mut self, _rounded: i64, _stream: i32, _tag: i32) -> i64 {
        POOL_LARGE as i64
    }

    /// The lowest-addressed candidate of the first list holding one: the
    /// candidates come in best-fit order, so that list is the first
    /// candidate's, and its blocks are a prefix of the candidates.
    fn pick_block(&mut self, c: &[Candidate], _rounded: i64, _pool: i32, _stream: i32, _tag: i32) -> i64 {
        let list = self.list(c[0].size as u64);
        let mut best = 0;
        for (i, b) in c.iter().enumerate().skip(1) {
            if self.list(b.size as u64) != list {
                break;
            }
            if b.addr < c[best].addr {
                best = i;
            }
        }
        best as i64
    }

    /// Splits off the request whenever a block remains.
    fn split(&mut self, block_size: i64, rounded: i64, _pool: i32, _stream: i32, _flags: i32, _tag: i32) -> i64 {
        if block_size - rounded >= BLOCK_ALIGN {
            rounded
        } else {
            block_size
        }
    }

    /// A new area: max(rounded, area_mb), rounded up to the granularity.
    fn segment_size(&mut self, rounded: i64, _pool: i32, _stream: i32, _tag: i32) -> i64 {
        let g = self.granularity;
        let size = rounded.max(self.area);
        let up = size.wrapping_add(g - 1) / g * g;
        if up > MAX_SIZE || up < rounded {
            return rounded;
        }
        up
    }

    /// TLSF never returns an area.
    fn release(&mut self, _phase: i32, _rounded: i64, _pool: i32, _stream: i32, _attempt: i32) -> i64 {
        ACT_NOTHING
    }
}

fraglab::export_policy!(Tlsf, hooks: [round_size, choose_pool, pick_block, split, segment_size, release]);
