//! Checks the Rust SDK's ABI 1.3 feature through the host: it implements
//! only `Policy::reserve_limit`, with the limit its parameter "limit" gives
//! in bytes (default 0: no limit).
#![no_std]

use fraglab::{Error, Policy};

pub struct Limit {
    bytes: i64,
}

impl Policy for Limit {
    fn init() -> Result<Self, Error> {
        Ok(Limit {
            bytes: fraglab::param_i64("limit", 0),
        })
    }

    fn reserve_limit(&self) -> i64 {
        self.bytes
    }
}

fraglab::export_policy!(Limit, hooks: []);
