//! The simulator: a virtual-time driver of the [`Scheduler`](crate::Scheduler) over a
//! seeded model of a provider.
//!
//! [`simulate`] runs jobs to the end on virtual time and reports the makespan, cost,
//! progress, a timeline and what the provider saw of the request rate.
//! [`simulate_in_groups`] runs the same items the naive way (groups of `N`, each
//! waiting for its slowest attempt), to show what the scheduler gains.

mod groups;
mod model;
mod provider;
mod run;
mod timeline;

pub use groups::{simulate_in_groups, GroupReport};
pub use model::{FaultRates, ModelConfig, SimulatedModel, SimulatedReply};
pub use provider::{WindowCheck, REFUSAL_LATENCY_MS};
pub use run::{simulate, SimReport, Simulation, DEFAULT_TIMELINE_POINTS};
pub use timeline::TimelinePoint;
