//! A job's items, a page at a time, with the last failure of each: what a client lists
//! without reading a large job whole.
//!
//! Items that were never dispatched have no row; they are `queued` (`cancelled` once a
//! cancel or the error policy stopped the job), and a page shows them with the tier
//! their index falls in.

use convoy_core::{ItemStatus, PricingTable};
use rusqlite::params;
use serde::Serialize;

use super::jobs::{unwritten_status, StoredJob};
use super::{Store, StoreError};

/// One item as a page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemRow {
    /// The item's index.
    pub item: u32,
    /// Its tier.
    pub tier: String,
    /// Its status as last written.
    pub status: ItemStatus,
    /// Attempts used up.
    pub attempts: u32,
    /// The class of its last failure, if any.
    pub class: Option<String>,
    /// The message of its last failure, if any.
    pub message: Option<String>,
}

/// How many item indexes one query of a filtered page looks at.
const WINDOW: u32 = 4_096;

impl Store {
    /// At most `limit` items of `job` with index above `after` (from the first when
    /// `None`), in index order, only those of `status` when given.
    ///
    /// # Errors
    ///
    /// When SQLite refuses or a row is unreadable.
    pub fn item_page(
        &self,
        job: &StoredJob,
        status: Option<ItemStatus>,
        after: Option<u32>,
        limit: u32,
    ) -> Result<Vec<ItemRow>, StoreError> {
        let plan = job.spec.plan(&PricingTable::built_in()).ok();
        let tier_of = |index: u32| {
            plan.as_ref()
                .map(|plan| plan.tiers[usize::from(plan.tier_of(index))].0.clone())
                .unwrap_or_default()
        };
        let mut page = Vec::new();
        let mut from = after.map_or(0, |after| after.saturating_add(1));
        while from < job.total && (page.len() as u32) < limit {
            let to = from.saturating_add(WINDOW).min(job.total);
            let mut rows = self.item_rows(job, from, to)?.into_iter().peekable();
            for index in from..to {
                let row = match rows.peek() {
                    Some(row) if row.item == index => rows.next().expect("peeked"),
                    _ => ItemRow {
                        item: index,
                        tier: tier_of(index),
                        status: unwritten_status(job.status),
                        attempts: 0,
                        class: None,
                        message: None,
                    },
                };
                if status.map_or(true, |wanted| wanted == row.status) {
                    page.push(row);
                    if page.len() as u32 == limit {
                        break;
                    }
                }
            }
            from = to;
        }
        Ok(page)
    }

    /// The stored items of `job` with index in `from..to`, in index order.
    fn item_rows(&self, job: &StoredJob, from: u32, to: u32) -> Result<Vec<ItemRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT i.idx, i.tier, i.status, i.attempts, a.class, a.message FROM items i \
             LEFT JOIN attempts a ON a.job_id = i.job_id AND a.idx = i.idx \
               AND a.attempt = (SELECT MAX(attempt) FROM attempts b \
                                WHERE b.job_id = i.job_id AND b.idx = i.idx \
                                  AND b.class IS NOT NULL) \
             WHERE i.job_id = ?1 AND i.idx >= ?2 AND i.idx < ?3 ORDER BY i.idx",
        )?;
        let rows = statement.query_map(params![job.id.0 as i64, from, to], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (index, tier, status, attempts, class, message) = row?;
            let status =
                serde_json::from_value(serde_json::Value::String(status)).map_err(|source| {
                    StoreError::Corrupt {
                        job: job.id.0,
                        what: "item status",
                        source,
                    }
                })?;
            items.push(ItemRow {
                item: index as u32,
                tier,
                status,
                attempts: attempts as u32,
                class,
                message,
            });
        }
        Ok(items)
    }
}
