//! The simulator: a virtual-time driver of the [`Scheduler`](crate::Scheduler) over a
//! seeded model of a provider.

mod model;

pub use model::{FaultRates, ModelConfig, SimulatedModel, SimulatedReply};
