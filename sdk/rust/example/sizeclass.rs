//! The "sizeclass" policy written with the Rust SDK. Every fraglab SDK ships
//! the same example, so the languages can be compared and a conformance
//! suite can require identical decisions:
//!
//! - `policy_round_size`: jemalloc-style size classes, `classes_per_doubling`
//!   classes between two powers of two, never finer than 512 bytes.
//! - `policy_split`: pool 0 splits off the request when at least 512 bytes
//!   remain; the other pools only when at least `split_min_mb` MiB remain.
//! - every other decision: the host default.
//!
//! Parameters: `classes_per_doubling` (1, 2, 4, 8 or 16; default 4) and
//! `split_min_mb` (≥ 1; default 4). Build: see `sdk/rust/README.md`.
#![no_std]

use fraglab::{errorf, Error, Policy, BLOCK_ALIGN, MAX_SIZE, MIB, POOL_SMALL};

/// The sizeclass policy.
pub struct SizeClass {
    /// Size classes per power of two: 1, 2, 4, 8 or 16.
    classes_per_doubling: i64,
    /// Bytes that must remain for a split in pools other than 0.
    split_min: i64,
}

impl Policy for SizeClass {
    fn init() -> Result<Self, Error> {
        let cpd = fraglab::param_i64("classes_per_doubling", 4);
        let split_min_mb = fraglab::param_i64("split_min_mb", 4);
        if !matches!(cpd, 1 | 2 | 4 | 8 | 16) {
            return Err(errorf!("classes_per_doubling={}: must be 1, 2, 4, 8 or 16", cpd));
        }
        if split_min_mb < 1 {
            return Err(errorf!("split_min_mb={}: must be ≥ 1", split_min_mb));
        }
        Ok(SizeClass {
            classes_per_doubling: cpd,
            // Any threshold above MAX_SIZE means "never split" (no block is
            // larger); capping the megabytes keeps the product from
            // overflowing.
            split_min: split_min_mb.min(MAX_SIZE / MIB + 1) * MIB,
        })
    }

    /// Rounds a request up to its size class: 512 for small requests,
    /// powers of two unchanged, otherwise a multiple of
    /// max(2^floor(log2 size) / classes_per_doubling, 512).
    fn round_size(&mut self, size: i64, _stream: i32, _tag: i32) -> i64 {
        if size <= BLOCK_ALIGN {
            return BLOCK_ALIGN;
        }
        if size & (size - 1) == 0 {
            return size;
        }
        let k = 63 - size.leading_zeros(); // floor(log2 size)
        let step = ((1i64 << k) / self.classes_per_doubling).max(BLOCK_ALIGN);
        size.wrapping_add(step - 1) & !(step - 1) // step is a power of two
    }

    /// Splits off the request when enough remains: 512 bytes in pool 0,
    /// split_min_mb MiB in the other pools.
    fn split(&mut self, block_size: i64, rounded: i64, pool: i32, _stream: i32, _flags: i32, _tag: i32) -> i64 {
        let rest = block_size - rounded;
        let min = if pool == POOL_SMALL { BLOCK_ALIGN } else { self.split_min };
        if rest >= min {
            rounded
        } else {
            block_size
        }
    }
}

fraglab::export_policy!(SizeClass, hooks: [round_size, split]);
