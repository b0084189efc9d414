//! One continuous token bucket, kept as a theoretical arrival time (GCRA), with a log of
//! the last minute's takes that keeps refunds from overfilling a window.

use alloc::collections::VecDeque;
use serde::{Deserialize, Serialize};

/// Milliseconds in the window every limit is expressed over.
pub const WINDOW_MS: u64 = 60_000;

/// A token bucket for one per-minute limit that no sliding 60-second window can exceed.
///
/// Two parts decide together when an amount may be taken:
///
/// - a continuous bucket paces dispatches. A bucket of capacity `C` refilled at `R` per
///   minute admits at most `C + R - 1` in any window shorter than a minute, so a limit
///   `L` gets `R = L + 1 - C`, where `C` is the largest single reservation. For requests
///   `C = 1` and the bucket refills at exactly `L`, one request every `60 s / L`;
/// - a log of what was taken in the last [`WINDOW_MS`], each amount at its dispatch time,
///   admits nothing that would make the window ending now hold more than `L`.
///
/// Settling gives back to both what an attempt reserved and did not use, so that a
/// bucket sized for `max_tokens` still runs near its refill rate when replies are
/// shorter. The bucket alone would break its guarantee then: a refund returns capacity
/// *now* for tokens counted at the dispatch, which can let the next minute overfill. The
/// log is lowered at the attempt's dispatch time instead, where its tokens were counted.
///
/// The guarantee, for every half-open window of [`WINDOW_MS`]: the amounts charged to
/// the attempts dispatched in it (the reservation while in flight, the real usage up to
/// the reservation once settled) sum to at most the limit. Usage beyond a reservation is
/// only known after the fact; it is charged when it is settled, so it delays later
/// dispatches.
///
/// The bucket's time is kept scaled so that all arithmetic is exact: one millisecond is
/// `R` units and one token is [`WINDOW_MS`] units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    limit: u64,
    capacity: u64,
    rate: u64,
    /// The scaled time at which the bucket will be full again.
    tat: u128,
    /// Nothing is admitted before this time (the provider said the limit is used up).
    blocked_until: u64,
    /// What was taken in the last window, oldest first.
    #[serde(default)]
    window: VecDeque<Taken>,
    /// The sum of the amounts in `window`.
    #[serde(default)]
    in_window: u64,
    /// The ticket of the next take.
    #[serde(default)]
    next_ticket: u64,
}

/// One amount in a bucket's log of the last window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Taken {
    at: u64,
    amount: u64,
    /// Tells a take apart from others at the same time, to settle it.
    ticket: u64,
}

impl Bucket {
    /// A full bucket for `limit` per minute whose largest reservation is `capacity`.
    ///
    /// `capacity` is clamped to `1..=limit`; `limit` must be at least 1.
    pub fn new(limit: u64, capacity: u64) -> Self {
        let limit = limit.max(1);
        let capacity = capacity.clamp(1, limit);
        Self {
            limit,
            capacity,
            rate: limit + 1 - capacity,
            tat: 0,
            blocked_until: 0,
            window: VecDeque::new(),
            in_window: 0,
            next_ticket: 0,
        }
    }

    /// The configured limit per minute.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The largest amount one reservation may take.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// What the bucket refills per minute.
    pub fn refill_per_minute(&self) -> u64 {
        self.rate
    }

    fn scaled(&self, now: u64) -> u128 {
        u128::from(now) * u128::from(self.rate)
    }

    fn tokens(amount: u64) -> u128 {
        u128::from(amount) * u128::from(WINDOW_MS)
    }

    /// Changes the limit or capacity, keeping what is currently owed.
    pub fn reconfigure(&mut self, limit: u64, capacity: u64, now: u64) {
        let owed = self.tat.saturating_sub(self.scaled(now));
        let owed_tokens = owed / u128::from(WINDOW_MS);
        let previous = core::mem::replace(self, Bucket::new(limit, capacity));
        self.tat = self.scaled(now) + owed_tokens * u128::from(WINDOW_MS);
        self.blocked_until = previous.blocked_until;
        self.window = previous.window;
        self.in_window = previous.in_window;
        self.next_ticket = previous.next_ticket;
    }

    /// What could be taken at `now`.
    pub fn available(&self, now: u64) -> u64 {
        if now < self.blocked_until {
            return 0;
        }
        let owed = self.tat.saturating_sub(self.scaled(now));
        let owed_tokens = owed.div_ceil(u128::from(WINDOW_MS));
        self.capacity
            .saturating_sub(owed_tokens.min(u128::from(u64::MAX)) as u64)
    }

    /// The earliest time, not before `now`, at which `amount` may be taken.
    pub fn ready_at(&self, amount: u64, now: u64) -> u64 {
        let amount = amount.min(self.capacity);
        let allowed = Self::tokens(self.capacity - amount);
        // The division below is only needed when the bucket is not ready at `now`.
        let ready = if self.tat <= allowed + self.scaled(now) {
            now
        } else {
            let ready = (self.tat - allowed).div_ceil(u128::from(self.rate));
            ready.min(u128::from(u64::MAX)) as u64
        };
        ready
            .max(now)
            .max(self.blocked_until)
            .max(self.window_ready_at(amount, now))
    }

    /// The earliest time, not before `now`, at which the window ending then has room for
    /// `amount` (at most the capacity).
    fn window_ready_at(&self, amount: u64, now: u64) -> u64 {
        let mut total = self.in_window;
        for taken in &self.window {
            let expires = taken.at + WINDOW_MS;
            if expires > now && total + amount <= self.limit {
                return now;
            }
            total -= taken.amount;
            if expires > now && total + amount <= self.limit {
                return expires;
            }
        }
        now
    }

    /// Forgets takes that no window from `now` on can hold.
    fn forget_before(&mut self, now: u64) {
        while let Some(taken) = self.window.front() {
            if taken.at + WINDOW_MS > now {
                break;
            }
            self.in_window -= taken.amount;
            self.window.pop_front();
        }
    }

    /// Logs `amount` taken at `at`, keeping the log in time order, and returns its ticket.
    fn log(&mut self, at: u64, amount: u64) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let taken = Taken { at, amount, ticket };
        // Takes come in time order but for settlements of excess usage, logged late.
        if self.window.back().map_or(true, |last| last.at <= at) {
            self.window.push_back(taken);
        } else {
            let position = self.window.partition_point(|taken| taken.at <= at);
            self.window.insert(position, taken);
        }
        self.in_window += amount;
        ticket
    }

    /// Takes `amount` at `now`, and returns the ticket that settles it. Call only when
    /// [`Bucket::ready_at`] is not after `now`.
    pub fn take(&mut self, amount: u64, now: u64) -> u64 {
        let amount = amount.min(self.capacity);
        self.tat = self.tat.max(self.scaled(now)) + Self::tokens(amount);
        self.forget_before(now);
        self.log(now, amount)
    }

    /// Settles the take of `reserved` that returned `ticket` with what was really used:
    /// gives back the difference, or takes the excess.
    pub fn settle_taken(&mut self, ticket: u64, reserved: u64, used: u64, now: u64) {
        self.forget_before(now);
        let reserved = reserved.min(self.capacity);
        // Tickets grow with time, and the log is in time order.
        let position = self.window.partition_point(|taken| taken.ticket < ticket);
        if let Some(taken) = self
            .window
            .get_mut(position)
            .filter(|taken| taken.ticket == ticket)
        {
            let kept = used.min(taken.amount);
            self.in_window -= taken.amount - kept;
            taken.amount = kept;
        }
        if used > reserved {
            self.log(now, used - reserved);
        }
        self.refund_or_charge(reserved, used, now);
    }

    /// Settles a reservation of `reserved` with what was really used, when the take's
    /// ticket is not known: the bucket refills or owes the difference, but the window
    /// keeps the whole reservation, so later dispatches may wait longer than with
    /// [`Bucket::settle_taken`].
    pub fn settle(&mut self, reserved: u64, used: u64, now: u64) {
        self.forget_before(now);
        if used > reserved {
            self.log(now, used - reserved);
        }
        self.refund_or_charge(reserved, used, now);
    }

    fn refund_or_charge(&mut self, reserved: u64, used: u64, now: u64) {
        let full = self.scaled(now);
        if used > reserved {
            self.tat = self.tat.max(full) + Self::tokens(used - reserved);
        } else if self.tat > full {
            self.tat = self
                .tat
                .saturating_sub(Self::tokens(reserved - used))
                .max(full);
        }
    }

    /// Applies what the provider says is left of this limit until `reset_at`.
    pub fn tighten(&mut self, remaining: u64, reset_at: u64, now: u64) {
        if remaining == 0 {
            self.blocked_until = self.blocked_until.max(reset_at);
        } else if remaining < self.available(now) {
            let owed = Self::tokens(self.capacity - remaining);
            self.tat = self.tat.max(self.scaled(now) + owed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Greedily takes `amount` as soon as allowed and returns the times of the takes.
    fn greedy(bucket: &mut Bucket, amount: u64, count: usize) -> Vec<u64> {
        let mut now = 0;
        let mut times = Vec::new();
        for _ in 0..count {
            now = bucket.ready_at(amount, now);
            bucket.take(amount, now);
            times.push(now);
        }
        times
    }

    fn worst_window(times: &[u64], amount: u64) -> u64 {
        let mut worst = 0;
        for (i, start) in times.iter().enumerate() {
            let inside = times[i..]
                .iter()
                .take_while(|t| **t < start + WINDOW_MS)
                .count();
            worst = worst.max(inside as u64 * amount);
        }
        worst
    }

    #[test]
    fn requests_fill_exactly_the_limit_in_every_window() {
        let mut bucket = Bucket::new(50, 1);
        let times = greedy(&mut bucket, 1, 500);
        assert_eq!(worst_window(&times, 1), 50);
        // 500 requests at 50 a minute: the last starts just under ten minutes in.
        assert_eq!(times[499], 499 * 60_000 / 50);
    }

    #[test]
    fn large_reservations_never_overfill_a_window() {
        let mut bucket = Bucket::new(16_000, 4_096);
        let times = greedy(&mut bucket, 4_096, 200);
        assert!(worst_window(&times, 4_096) <= 16_000);
    }

    #[test]
    fn a_refund_makes_room_sooner() {
        let mut bucket = Bucket::new(10_000, 4_000);
        bucket.take(4_000, 0);
        let before = bucket.ready_at(4_000, 0);
        bucket.settle(4_000, 1_000, 0);
        assert!(bucket.ready_at(4_000, 0) < before);
    }

    /// Takes `amount` as soon as allowed and settles each take 1 ms later with the usage
    /// `used(i)`; returns each take's time and settled usage.
    fn greedy_settled(bucket: &mut Bucket, amount: u64, used: fn(usize) -> u64) -> Vec<(u64, u64)> {
        let mut now = 0;
        let mut takes = Vec::new();
        for i in 0..40 {
            now = bucket.ready_at(amount, now);
            let ticket = bucket.take(amount, now);
            bucket.settle_taken(ticket, amount, used(i), now + 1);
            takes.push((now, used(i)));
            now += 1;
        }
        takes
    }

    fn worst_settled_window(takes: &[(u64, u64)]) -> u64 {
        let window = |start: u64| {
            takes
                .iter()
                .filter(|(at, _)| (start..start + WINDOW_MS).contains(at))
                .map(|(_, used)| used)
                .sum::<u64>()
        };
        takes
            .iter()
            .map(|(start, _)| window(*start))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn refunds_never_let_a_window_hold_more_than_the_limit() {
        // An unused reservation refunded just after a later take once let the window
        // from that take to a minute later hold 12,000 of a 10,000 limit.
        let mut bucket = Bucket::new(10_000, 4_000);
        let takes = greedy_settled(&mut bucket, 4_000, |i| if i % 3 == 0 { 0 } else { 4_000 });
        assert!(worst_settled_window(&takes) <= 10_000, "{takes:?}");
    }

    #[test]
    fn refunds_of_short_replies_let_more_attempts_through() {
        let mut bucket = Bucket::new(10_000, 4_000);
        let takes = greedy_settled(&mut bucket, 4_000, |_| 1_000);
        let first_minute = takes.iter().filter(|(at, _)| *at < WINDOW_MS).count();
        // The bucket refills 6,001 a minute: without refunds two takes of 4,000 fit in
        // the first minute, with refunds of 3,000 one every 10 s.
        assert_eq!(first_minute, 7, "{takes:?}");
        assert!(worst_settled_window(&takes) <= 10_000);
    }

    #[test]
    fn zero_remaining_blocks_until_the_reset() {
        let mut bucket = Bucket::new(100, 1);
        bucket.tighten(0, 5_000, 1_000);
        assert_eq!(bucket.ready_at(1, 1_000), 5_000);
        assert_eq!(bucket.available(4_999), 0);
        assert_eq!(bucket.available(5_000), 1);
    }

    #[test]
    fn reconfigure_keeps_what_is_owed() {
        let mut bucket = Bucket::new(60, 1);
        bucket.take(1, 0);
        bucket.reconfigure(30, 1, 0);
        assert_eq!(bucket.ready_at(1, 0), 2_000);
    }
}
