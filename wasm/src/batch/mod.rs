//! `class Batch`: runs one job with the caller's attempt function, on the core scheduler.

mod attempt;
mod driver;
mod report;
mod spec;

use std::cell::RefCell;
use std::rc::Rc;

use convoy_core::{CommandError, JobSpec, PricingTable};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::convert::{js_error, to_js};
use crate::types::{
    AttemptFnJs, BatchSpecJs, EventListenerJs, ItemsJs, ProgressJs, ProgressListenerJs,
    SummaryPromiseJs,
};
use driver::{pump, Driver, Run, Shared, JOB};
pub(crate) use spec::small;

/// A batch of conversations to generate, run by the core scheduler with an attempt
/// function of the caller's.
#[wasm_bindgen]
pub struct Batch {
    shared: Shared,
}

#[wasm_bindgen]
impl Batch {
    /// A batch from a job spec (the job file's fields in camelCase).
    ///
    /// # Errors
    ///
    /// An `Error` naming the field at fault when the spec is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(spec: &BatchSpecJs) -> Result<Batch, JsError> {
        let spec = spec::read(spec)?;
        if !spec.batches.is_empty() || !spec.items.is_empty() {
            check(&spec)?;
        }
        let driver = Driver {
            spec,
            run: None,
            progress_listeners: Vec::new(),
            event_listeners: Vec::new(),
        };
        Ok(Batch {
            shared: Rc::new(RefCell::new(driver)),
        })
    }

    /// Adds items given one by one, after those of `batches`. Returns the number of items.
    ///
    /// # Errors
    ///
    /// An `Error` naming the item and field at fault, or when the batch has started.
    #[wasm_bindgen(js_name = addItems)]
    pub fn add_items(&self, items: &ItemsJs) -> Result<u32, JsError> {
        let items = spec::read_item_list(items)?;
        let mut driver = self.shared.borrow_mut();
        if driver.run.is_some() {
            return Err(JsError::new(
                "items: cannot add items to a batch that has started",
            ));
        }
        let mut spec = driver.spec.clone();
        let first = spec.items.len();
        spec.items.extend(items);
        let total = spec
            .plan(&PricingTable::built_in())
            .map(|plan| plan.total())
            // Positions count from the first item of this call, as the caller sees them.
            .map_err(|error| JsError::new(&renumber(&error.to_string(), first)))?;
        driver.spec = spec;
        Ok(total)
    }

    /// Calls `listener` with a progress snapshot whenever something changed.
    #[wasm_bindgen(js_name = onProgress)]
    pub fn on_progress(&self, listener: &ProgressListenerJs) {
        let listener: &Function = listener.unchecked_ref();
        self.shared
            .borrow_mut()
            .progress_listeners
            .push(listener.clone());
    }

    /// Calls `listener` with every event of the scheduler, in order.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(&self, listener: &EventListenerJs) {
        let listener: &Function = listener.unchecked_ref();
        self.shared
            .borrow_mut()
            .event_listeners
            .push(listener.clone());
    }

    /// Runs the batch: `attempt(item, attemptNumber)` performs one attempt and resolves
    /// `{ usage, output? }` or rejects with `{ class, message, retryAfterMs? }` (a plain
    /// `Error` counts as `transient`). Resolves to the summary once every item has
    /// ended or the batch was cancelled; rejects when the batch cannot start.
    pub fn run(&self, attempt: &AttemptFnJs) -> SummaryPromiseJs {
        let attempt: Function = attempt.unchecked_ref::<Function>().clone();
        let mut failure = None;
        let promise = Promise::new(&mut |resolve, _reject| {
            failure = self.start(attempt.clone(), resolve).err();
        });
        let promise = match failure {
            Some(error) => Promise::reject(&JsValue::from(error)),
            None => {
                pump(&self.shared);
                promise
            }
        };
        promise.unchecked_into()
    }

    /// Stops new attempts; those in flight finish and are kept.
    ///
    /// # Errors
    ///
    /// When the batch is not running.
    pub fn pause(&self) -> Result<(), JsError> {
        self.command(|run, now| run.scheduler.pause(JOB, now))
    }

    /// Lets a paused batch start attempts again.
    ///
    /// # Errors
    ///
    /// When the batch is not paused.
    pub fn resume(&self) -> Result<(), JsError> {
        self.command(|run, now| run.scheduler.resume(JOB, now))
    }

    /// Cancels the items not yet started; attempts in flight finish and are kept, and
    /// `run` resolves once they have.
    ///
    /// # Errors
    ///
    /// When the batch has not started or has ended.
    pub fn cancel(&self) -> Result<(), JsError> {
        self.command(|run, now| run.scheduler.cancel(JOB, now))
    }

    /// A snapshot of the batch, or `undefined` before `run`.
    pub fn progress(&self) -> Result<ProgressJs, JsError> {
        let mut driver = self.shared.borrow_mut();
        let snapshot = driver.run.as_mut().and_then(|run| {
            let now = run.now();
            run.progress(now)
        });
        match snapshot {
            Some(progress) => Ok(to_js(&progress)?.unchecked_into()),
            None => Ok(JsValue::UNDEFINED.unchecked_into()),
        }
    }
}

impl Batch {
    fn start(&self, attempt: Function, resolve: Function) -> Result<(), JsError> {
        let mut driver = self.shared.borrow_mut();
        if driver.run.is_some() {
            return Err(JsError::new("run: the batch has run already"));
        }
        let run = Run::start(&driver.spec, attempt, resolve).map_err(js_error)?;
        driver.run = Some(run);
        Ok(())
    }

    fn command(
        &self,
        command: impl FnOnce(&mut Run, u64) -> Result<(), CommandError>,
    ) -> Result<(), JsError> {
        {
            let mut driver = self.shared.borrow_mut();
            let Some(run) = driver.run.as_mut() else {
                return Err(JsError::new("batch: not started, call run() first"));
            };
            let now = run.now();
            command(run, now).map_err(|error| JsError::new(&batch_message(&error)))?;
        }
        pump(&self.shared);
        Ok(())
    }
}

/// Validates `spec` as the scheduler will, and returns its number of items.
fn check(spec: &JobSpec) -> Result<u32, JsError> {
    spec.plan(&PricingTable::built_in())
        .map(|plan| plan.total())
        .map_err(js_error)
}

/// A command error as the batch's caller knows it: there is one job, the batch.
fn batch_message(error: &CommandError) -> String {
    let message = error.to_string();
    match message.split_once(": ") {
        Some((_, rest)) => format!("batch: {rest}"),
        None => message,
    }
}

/// `items[7].tier: ...` as `items[7 - first].tier: ...`.
fn renumber(message: &str, first: usize) -> String {
    let message = crate::convert::js_message(message);
    let Some(rest) = message.strip_prefix("items[") else {
        return message;
    };
    let Some((number, rest)) = rest.split_once(']') else {
        return message;
    };
    match number.parse::<usize>() {
        Ok(position) if position >= first => format!("items[{}]{rest}", position - first),
        _ => message,
    }
}
