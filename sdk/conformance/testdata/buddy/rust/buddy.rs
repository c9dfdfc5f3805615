//! policies/buddy (a binary buddy allocator, C) written with the Rust SDK,
//! to check the SDK's ABI 1.2 features: it asks for repeated merges
//! (`Policy::merge_repeat`) and merges only buddies, found from the merge
//! offsets (`merge_offsets`). It must make exactly the built-in's
//! decisions.
#![no_std]

use fraglab::{Error, Policy, BLOCK_ALIGN, MIB};

pub struct Buddy;

/// The smallest power of two ≥ v.
fn pow2_ceil(v: i64) -> i64 {
    if v <= 1 {
        1
    } else {
        1 << (64 - ((v - 1) as u64).leading_zeros())
    }
}

impl Policy for Buddy {
    fn init() -> Result<Self, Error> {
        Ok(Buddy)
    }

    fn merge_repeat(&self) -> bool {
        true
    }

    fn round_size(&mut self, size: i64, _stream: i32, _tag: i32) -> i64 {
        if size <= BLOCK_ALIGN {
            BLOCK_ALIGN
        } else {
            pow2_ceil(size)
        }
    }

    fn segment_size(&mut self, rounded: i64, _pool: i32, _stream: i32, _tag: i32) -> i64 {
        pow2_ceil(rounded).max(2 * MIB)
    }

    fn split(&mut self, block_size: i64, rounded: i64, _pool: i32, _stream: i32, _flags: i32, _tag: i32) -> i64 {
        let half = block_size / 2;
        if half >= rounded && half % BLOCK_ALIGN == 0 {
            half
        } else {
            block_size
        }
    }

    fn merge(&mut self, block_size: i64, neighbour_size: i64, _pool: i32, _side: i32) -> i64 {
        if block_size != neighbour_size {
            return 0;
        }
        match fraglab::merge_offsets() {
            Some((block, neighbour)) if block.min(neighbour) % (2 * block_size) == 0 => 1,
            Some(_) => 0,
            None => fraglab::fail("no merge offsets: buddy needs an ABI 1.2 host"),
        }
    }
}

fraglab::export_policy!(Buddy, hooks: [round_size, segment_size, split, merge]);
