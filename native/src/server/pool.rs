//! Connections to the store for the request handlers, each used on a blocking thread so
//! that SQLite never stalls the runtime. WAL lets them read while the driver writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::error::ApiError;
use crate::store::{Store, StoreError};

/// Idle connections to one store file, opened as needed.
pub struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Store>>,
}

/// How many idle connections are kept.
const KEEP_IDLE: usize = 8;

impl Pool {
    /// A pool of connections to the store at `path`.
    pub fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `work` with a connection on a blocking thread.
    ///
    /// # Errors
    ///
    /// What `work` returns, and [`ApiError::Internal`] when no connection opens.
    pub async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let idle = pool.idle.lock().expect("pool lock").pop();
            let mut store = match idle {
                Some(store) => store,
                None => Store::open(&pool.path)
                    .map_err(|error: StoreError| ApiError::Internal(error.to_string()))?,
            };
            let result = work(&mut store);
            let mut idle = pool.idle.lock().expect("pool lock");
            if idle.len() < KEEP_IDLE {
                idle.push(store);
            }
            result
        })
        .await
        .map_err(|error| ApiError::Internal(format!("a store task failed: {error}")))?
    }
}
