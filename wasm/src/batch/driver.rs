//! The driver loop of the scheduler on JavaScript's event loop: dispatch what may start,
//! drain the events, then wait for the first of an attempt settling, a command, or a
//! `setTimeout` at the scheduler's next deadline.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use convoy_core::{AttemptId, Dispatch, Event, JobId, JobSpec, Plan, Scheduler};
use js_sys::{Array, Date, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::attempt;
use super::report::{ItemFailure, ItemResult, ProgressOut};
use crate::convert::to_js;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, delay_ms: f64) -> JsValue;

    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

/// The one job a `Batch` runs.
pub(crate) const JOB: JobId = JobId(1);

/// The state of a batch, shared by the class, its attempts and its timer.
pub(crate) type Shared = Rc<RefCell<Driver>>;

/// A batch's spec, and once it runs, its scheduler and everything in between.
pub(crate) struct Driver {
    pub spec: JobSpec,
    pub run: Option<Run>,
    pub progress_listeners: Vec<Function>,
    pub event_listeners: Vec<Function>,
}

/// A batch that was started.
pub(crate) struct Run {
    pub scheduler: Scheduler,
    plan: Plan,
    attempt: Function,
    epoch_ms: f64,
    last_ms: u64,
    /// Where the items given one by one start.
    first_single: u32,
    /// When each attempt in flight started. A list, not a map: it holds at most
    /// `concurrency` entries, and every map type adds its own code to the `.wasm`.
    in_flight: Vec<(AttemptId, u64)>,
    /// Outputs of accepted successes, until their event is drained.
    outputs: Vec<(AttemptId, JsValue)>,
    failures: Vec<ItemFailure>,
    results: Array,
    timer: Option<(u64, JsValue)>,
    tick: Option<Closure<dyn FnMut()>>,
    /// Resolves the promise `run` returned.
    resolve: Option<Function>,
    finished: bool,
}

impl Run {
    /// Starts `spec` as the batch's one job; `resolve` gets the summary at the end.
    pub fn start(
        spec: &JobSpec,
        attempt: Function,
        resolve: Function,
    ) -> Result<Self, convoy_core::SubmitError> {
        let mut scheduler = Scheduler::new(seed());
        scheduler.submit(JOB, spec.clone(), 0)?;
        let plan = scheduler
            .plan(JOB)
            .cloned()
            .expect("the job was just submitted");
        let first_single = spec.batches.iter().map(|batch| batch.count as u32).sum();
        Ok(Self {
            scheduler,
            plan,
            attempt,
            epoch_ms: Date::now(),
            last_ms: 0,
            first_single,
            in_flight: Vec::new(),
            outputs: Vec::new(),
            failures: Vec::new(),
            results: Array::new(),
            timer: None,
            tick: None,
            resolve: Some(resolve),
            finished: false,
        })
    }

    /// Milliseconds since the batch started, never going back.
    pub fn now(&mut self) -> u64 {
        let elapsed = (Date::now() - self.epoch_ms).max(0.0) as u64;
        self.last_ms = self.last_ms.max(elapsed);
        self.last_ms
    }

    fn tier_name(&self, item: u32) -> &str {
        &self.plan.tiers[usize::from(self.plan.tier_of(item))].0
    }

    /// The job's shared parameters with the item's own on top.
    fn parameters(&self, spec: &JobSpec, item: u32) -> BTreeMap<String, String> {
        let mut parameters = spec.parameters.clone();
        if let Some(single) = item
            .checked_sub(self.first_single)
            .and_then(|position| spec.items.get(position as usize))
        {
            parameters.extend(single.parameters.clone());
        }
        parameters
    }

    /// The `AttemptItem` handed to the attempt function.
    fn attempt_item(&self, spec: &JobSpec, item: u32) -> JsValue {
        let parameters = self.parameters(spec, item);
        let value = AttemptItemOut {
            index: item,
            tier: self.tier_name(item),
            parameters: &parameters,
        };
        to_js(&value).unwrap_or(JsValue::UNDEFINED)
    }

    /// Notes an event: failures and results are kept for the summary.
    fn record(&mut self, spec: &JobSpec, event: &Event) {
        match event {
            Event::Succeeded {
                attempt,
                usage,
                cost_usd,
                ..
            } => {
                let parameters = self.parameters(spec, attempt.item);
                let result = ItemResult {
                    item: attempt.item,
                    tier: self.tier_name(attempt.item),
                    parameters: &parameters,
                    attempt: attempt.attempt,
                    usage: *usage,
                    cost_usd: *cost_usd,
                };
                let value = to_js(&result).unwrap_or(JsValue::UNDEFINED);
                if let Some(output) = take(&mut self.outputs, attempt) {
                    let _ = Reflect::set(&value, &JsValue::from_str("output"), &output);
                }
                self.results.push(&value);
            }
            Event::Failed {
                attempt,
                class,
                message,
                ..
            } => {
                let failure = ItemFailure {
                    item: attempt.item,
                    tier: self.tier_name(attempt.item).into(),
                    attempt: attempt.attempt,
                    class: *class,
                    message: message.clone(),
                };
                self.failures.push(failure);
            }
            _ => {}
        }
    }

    /// The progress snapshot at `now`.
    pub fn progress(&self, now: u64) -> Option<ProgressOut> {
        self.scheduler
            .progress(JOB, now)
            .as_ref()
            .map(ProgressOut::from)
    }

    /// The summary: the last progress snapshot with the model, the failures and the
    /// results (which carry the caller's outputs) set on it.
    fn summary(&self, spec: &JobSpec, now: u64) -> JsValue {
        let Some(progress) = self.progress(now) else {
            return JsValue::UNDEFINED;
        };
        let value = to_js(&progress).unwrap_or(JsValue::UNDEFINED);
        let failures = to_js(&self.failures).unwrap_or(JsValue::UNDEFINED);
        for (name, field) in [
            ("model", JsValue::from_str(&spec.model)),
            ("failures", failures),
            ("results", self.results.clone().into()),
        ] {
            let _ = Reflect::set(&value, &JsValue::from_str(name), &field);
        }
        value
    }
}

/// The fields of an `AttemptItem`.
#[derive(serde::Serialize)]
struct AttemptItemOut<'a> {
    index: u32,
    tier: &'a str,
    parameters: &'a BTreeMap<String, String>,
}

/// Removes the entry of `id` from `list` and returns its value.
fn take<V>(list: &mut Vec<(AttemptId, V)>, id: &AttemptId) -> Option<V> {
    let position = list.iter().position(|(entry, _)| entry == id)?;
    Some(list.swap_remove(position).1)
}

/// Backoff jitter needs a seed; the time is as good as any.
fn seed() -> u64 {
    Date::now() as u64
}

/// Runs the loop once: starts every attempt that may start, then shows what happened.
pub(crate) fn pump(shared: &Shared) {
    loop {
        let next = {
            let mut driver = shared.borrow_mut();
            let driver = &mut *driver;
            let Some(run) = driver.run.as_mut() else {
                return;
            };
            let now = run.now();
            run.scheduler.poll_dispatch(now).map(|dispatch| {
                run.in_flight.push((dispatch.attempt, now));
                let item = run.attempt_item(&driver.spec, dispatch.attempt.item);
                (dispatch, item, run.attempt.clone())
            })
        };
        match next {
            Some((dispatch, item, attempt)) => start(shared, dispatch, &item, &attempt),
            None => break,
        }
    }
    show(shared);
}

/// Calls the attempt function and feeds its outcome back when it settles.
fn start(shared: &Shared, dispatch: Dispatch, item: &JsValue, attempt: &Function) {
    let number = JsValue::from(dispatch.attempt.attempt);
    let promise = match attempt.call2(&JsValue::NULL, item, &number) {
        Ok(value) => Promise::resolve(&value),
        Err(thrown) => Promise::reject(&thrown),
    };
    let shared = Rc::clone(shared);
    wasm_bindgen_futures::spawn_local(async move {
        let settled = JsFuture::from(promise).await;
        finish(&shared, dispatch.attempt, settled);
    });
}

/// Hands a settled attempt to the scheduler and runs the loop.
fn finish(shared: &Shared, id: AttemptId, settled: Result<JsValue, JsValue>) {
    {
        let mut driver = shared.borrow_mut();
        let Some(run) = driver.run.as_mut() else {
            return;
        };
        let now = run.now();
        let started = take(&mut run.in_flight, &id).unwrap_or(now);
        let latency_ms = now.saturating_sub(started);
        let outcome = match settled {
            Ok(value) => {
                let (outcome, output) = attempt::resolved(&value, latency_ms);
                if outcome.is_success() {
                    run.outputs.push((id, output));
                }
                outcome
            }
            Err(reason) => attempt::rejected(&reason, latency_ms),
        };
        // The attempt was dispatched by this scheduler, so its job and item exist.
        let _ = run.scheduler.handle_outcome(id, outcome, now);
    }
    pump(shared);
}

/// Drains events to the listeners, reports progress, settles `run`'s promise when the
/// job has ended, and sets the timer for the scheduler's next deadline.
fn show(shared: &Shared) {
    let (events, progress, ended, event_listeners, progress_listeners) = {
        let mut driver = shared.borrow_mut();
        let driver = &mut *driver;
        let Some(run) = driver.run.as_mut() else {
            return;
        };
        let now = run.now();
        let mut events = Vec::new();
        while let Some(event) = run.scheduler.poll_event() {
            run.record(&driver.spec, &event);
            events.push(event);
        }
        let progress = run.progress(now);
        let finished = run
            .scheduler
            .status(JOB)
            .is_some_and(|status| status.is_finished());
        let ended = if finished && !run.finished {
            run.finished = true;
            cancel_timer(run);
            let summary = run.summary(&driver.spec, now);
            run.resolve.take().map(|resolve| (resolve, summary))
        } else {
            if !run.finished {
                arm_timer(shared, run, now);
            }
            None
        };
        (
            events,
            progress,
            ended,
            driver.event_listeners.clone(),
            driver.progress_listeners.clone(),
        )
    };

    if !event_listeners.is_empty() {
        for event in &events {
            let value = to_js(event).unwrap_or(JsValue::UNDEFINED);
            for listener in &event_listeners {
                let _ = listener.call1(&JsValue::NULL, &value);
            }
        }
    }
    if let Some(progress) = progress.filter(|_| !events.is_empty() || ended.is_some()) {
        let value = to_js(&progress).unwrap_or(JsValue::UNDEFINED);
        for listener in &progress_listeners {
            let _ = listener.call1(&JsValue::NULL, &value);
        }
    }
    if let Some((resolve, summary)) = ended {
        let _ = resolve.call1(&JsValue::NULL, &summary);
    }
}

/// The longest delay `setTimeout` honours: a signed 32-bit number of milliseconds.
const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// Sets the timer for the scheduler's next deadline, or clears it when there is none.
fn arm_timer(shared: &Shared, run: &mut Run, now: u64) {
    let deadline = run.scheduler.poll_timeout();
    if run.timer.as_ref().map(|(at, _)| *at) == deadline {
        return;
    }
    cancel_timer(run);
    let Some(at) = deadline else {
        return;
    };
    let tick = run.tick.get_or_insert_with(|| tick(Rc::downgrade(shared)));
    // A deadline that has passed already is polled on the next turn of the event loop;
    // one beyond what `setTimeout` takes (about 24.8 days, longer fires at once) is
    // polled at that limit and the timer set again.
    let delay = at.saturating_sub(now).clamp(1, MAX_TIMEOUT_MS) as f64;
    let handle = set_timeout(tick.as_ref().unchecked_ref(), delay);
    run.timer = Some((at, handle));
}

fn cancel_timer(run: &mut Run) {
    if let Some((_, handle)) = run.timer.take() {
        clear_timeout(&handle);
    }
}

/// The timer's callback. It holds the batch weakly: the batch owns it.
fn tick(shared: Weak<RefCell<Driver>>) -> Closure<dyn FnMut()> {
    Closure::new(move || {
        if let Some(shared) = shared.upgrade() {
            if let Some(run) = shared.borrow_mut().run.as_mut() {
                run.timer = None;
            }
            pump(&shared);
        }
    })
}
