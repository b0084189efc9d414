//! A bounded record of how many items had ended at which time, for plotting.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Items ended by a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelinePoint {
    /// Virtual time in milliseconds since the simulation started.
    pub t_ms: u64,
    /// Items that had succeeded or failed for good by then, every job counted.
    pub ended: u64,
}

/// Keeps at most `2 × limit` points while recording and thins them to at most `limit`
/// at the end, always keeping the first and the last.
///
/// Thinning drops every other point, so the points stay spread over the whole run
/// however long it turns out to be, at an amortised cost of O(1) per record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    limit: usize,
    /// Record one change in `stride`; doubles at every thinning.
    stride: u64,
    seen: u64,
    points: Vec<TimelinePoint>,
    last: Option<TimelinePoint>,
}

impl Timeline {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            stride: 1,
            seen: 0,
            points: Vec::new(),
            last: None,
        }
    }

    /// Notes that `ended` items had ended at `t_ms`.
    pub fn record(&mut self, t_ms: u64, ended: u64) {
        if self.limit == 0 {
            return;
        }
        let point = TimelinePoint { t_ms, ended };
        self.last = Some(point);
        if self.seen % self.stride == 0 {
            self.points.push(point);
            if self.points.len() >= 2 * self.limit.max(2) {
                self.thin();
            }
        }
        self.seen += 1;
    }

    fn thin(&mut self) {
        let mut keep = 0;
        for index in (0..self.points.len()).step_by(2) {
            self.points[keep] = self.points[index];
            keep += 1;
        }
        self.points.truncate(keep);
        self.stride *= 2;
    }

    /// The points, at most `limit` of them, first and last included.
    pub fn finish(mut self) -> Vec<TimelinePoint> {
        if self.limit == 0 {
            return Vec::new();
        }
        while self.points.len() > self.limit.max(2) {
            self.thin();
        }
        if let Some(last) = self.last {
            if self.points.last() != Some(&last) {
                if self.points.len() >= self.limit.max(2) {
                    self.points.pop();
                }
                self.points.push(last);
            }
        }
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_is_thinned_to_the_limit_keeping_both_ends() {
        let mut timeline = Timeline::new(200);
        for i in 0..100_000 {
            timeline.record(i * 10, i + 1);
        }
        let points = timeline.finish();
        assert!(
            points.len() <= 200 && points.len() > 100,
            "{}",
            points.len()
        );
        assert_eq!(points[0], TimelinePoint { t_ms: 0, ended: 1 });
        assert_eq!(
            *points.last().unwrap(),
            TimelinePoint {
                t_ms: 999_990,
                ended: 100_000
            }
        );
        assert!(points.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
    }

    #[test]
    fn a_short_run_keeps_every_point() {
        let mut timeline = Timeline::new(200);
        for i in 0..50 {
            timeline.record(i, i);
        }
        assert_eq!(timeline.finish().len(), 50);
    }
}
