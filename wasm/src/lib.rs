//! convoy-wasm: convoy for JavaScript, in browsers and in Node.
//!
//! It exports what the core knows to JavaScript with JavaScript's conventions:
//! [`estimate`] (cost and time before a run), [`simulate`] (one run on virtual time,
//! with its timeline), [`pricing`] (the built-in table) and [`Batch`], which runs a job
//! by driving the core scheduler with the caller's async attempt function, timers from
//! `setTimeout` and time from `Date.now()`.
//!
//! Names are camelCase in JavaScript, every value crossing the boundary has a
//! TypeScript type, and bad input throws an `Error` whose message names the field at
//! fault. It performs no I/O of its own: the attempt function does the calls.

mod batch;
mod convert;
mod estimate;
mod pricing;
mod request;
mod simulate;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
mod types;

pub use batch::Batch;
pub use estimate::estimate;
pub use pricing::pricing;
pub use simulate::simulate;
