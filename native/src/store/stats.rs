//! Running statistics per model and tier (the core's [`History`]), updated from every
//! finished attempt, so that estimates lean on what was seen rather than on profiles.
//!
//! The driver records statistics under the model as served by its provider
//! ([`crate::history::served_model`]), so runs of one model on the simulated provider,
//! a mock and the real API stay apart.

use convoy_core::estimate::TierStats;
use convoy_core::History;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};

impl Store {
    /// Every statistic recorded, as one [`History`]; rows that do not read are skipped.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn history(&self) -> Result<History, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT data FROM statistics ORDER BY model, tier")?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        let mut tiers = Vec::new();
        for row in rows {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&row?) {
                tiers.push(value);
            }
        }
        Ok(serde_json::from_value(serde_json::Value::Array(tiers)).unwrap_or_default())
    }

    /// Adds the statistics in `added` (what a driver recorded since it last wrote) to
    /// the stored ones of the same model and tier, in one transaction that holds the
    /// write lock from its first read, so that runners of several processes add up
    /// rather than overwrite each other. A stored row that does not read is replaced.
    ///
    /// # Errors
    ///
    /// When SQLite refuses; nothing is written then.
    pub fn add_history(&mut self, added: &History, now: u64) -> Result<(), StoreError> {
        if added.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for stats in added.tiers() {
            let stored: Option<String> = tx
                .query_row(
                    "SELECT data FROM statistics WHERE model = ?1 AND tier = ?2",
                    params![stats.model, stats.tier],
                    |row| row.get(0),
                )
                .optional()?;
            let merged = match stored.and_then(|text| serde_json::from_str::<TierStats>(&text).ok())
            {
                Some(mut stored) => {
                    stored.merge(stats);
                    stored
                }
                None => stats.clone(),
            };
            tx.execute(
                "INSERT INTO statistics (model, tier, data, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (model, tier) DO UPDATE SET data = excluded.data, \
                 updated_at = excluded.updated_at",
                params![
                    stats.model,
                    stats.tier,
                    serde_json::to_string(&merged).expect("statistics serialize"),
                    now as i64
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
