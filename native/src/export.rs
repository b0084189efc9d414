//! Export: one JSON line per generated conversation, in the chat fine-tuning shape
//! `{"messages": [...]}` plus a `metadata` object saying where it came from.

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::conversation::Conversation;
use crate::store::{Store, StoreError, StoredJob, StoredResult};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be written.
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    /// A stored conversation does not read back.
    #[error("item {item}: stored conversation is unreadable: {source}")]
    Corrupt {
        /// The item.
        item: u32,
        /// Why.
        source: serde_json::Error,
    },
}

/// The name of a job's export file: `NAME-ID.jsonl`, with every character of the name
/// but ASCII letters, digits, `-` and `_` replaced by `_`, so that a job name (which any
/// user of a server may choose) never leads the file into another folder.
pub fn file_name(job: &StoredJob) -> String {
    let name: String = job
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}-{}.jsonl", job.id)
}

/// Writes every succeeded item of `job`, in item order, to `out`; returns how many.
///
/// # Errors
///
/// See [`ExportError`].
pub fn export(store: &Store, job: &StoredJob, out: &mut dyn Write) -> Result<usize, ExportError> {
    let mut lines = 0;
    store.each_result(job.id, |result| {
        write_line(job, &result, out)?;
        lines += 1;
        Ok::<_, ExportError>(())
    })?;
    out.flush()?;
    Ok(lines)
}

/// Writes the export line of one stored result, newline included.
///
/// # Errors
///
/// [`ExportError::Corrupt`] when the stored conversation does not read back, and
/// [`ExportError::Write`].
pub fn write_line(
    job: &StoredJob,
    result: &StoredResult,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let conversation: Conversation =
        serde_json::from_str(&result.conversation).map_err(|source| ExportError::Corrupt {
            item: result.item,
            source,
        })?;
    let mut parameters: Map<String, Value> = job
        .spec
        .parameters
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    if let Some(own) = &result.parameters {
        if let Ok(Value::Object(own)) = serde_json::from_str(own) {
            parameters.extend(own);
        }
    }
    let usage: Value = serde_json::from_str(&result.usage).unwrap_or(Value::Null);
    let mut line = conversation.to_messages();
    line["metadata"] = json!({
        "job": job.name,
        "job_id": job.id.0,
        "item": result.item,
        "tier": result.tier,
        "parameters": parameters,
        "model": job.spec.model,
        "usage": usage,
        "cost_usd": result.cost_usd,
    });
    serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}
