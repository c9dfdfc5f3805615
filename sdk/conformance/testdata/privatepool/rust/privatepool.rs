//! Checks that the Rust SDK reads ABI 1.4's stat key 17 through the host:
//! `choose_pool` puts an allocation to private memory pool p (1..6) into
//! pool 1 + p and defers for the default memory pool.
#![no_std]

use fraglab::{Error, Policy, DEFER};

pub struct PrivatePool;

impl Policy for PrivatePool {
    fn init() -> Result<Self, Error> {
        Ok(PrivatePool)
    }

    fn choose_pool(&mut self, _rounded: i64, _stream: i32, _tag: i32) -> i64 {
        match fraglab::request_private_pool() {
            None => fraglab::fail("stat 17 answered no memory pool while an allocation is served"),
            Some(0) => DEFER,
            Some(pool) => 1 + pool % 7,
        }
    }
}

fraglab::export_policy!(PrivatePool, hooks: [choose_pool]);
