//! convoy: the native runner of convoy batches.
//!
//! Reads job files, drives the `convoy-core` scheduler on tokio, calls providers over
//! HTTP (or the built-in simulated provider), keeps everything in one SQLite file and
//! exports conversations as JSONL; `convoy serve` runs jobs of many users over HTTP.

pub mod cli;
pub mod conversation;
pub mod driver;
pub mod export;
pub mod history;
pub mod jobfile;
pub mod mock;
pub mod prompt;
pub mod provider;
pub mod server;
pub mod store;
