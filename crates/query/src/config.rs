//! Limits and sizes of the query engine.

use std::time::Duration;

use crate::error::{Error, Result};

/// How queries run. `Default` gives the production defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// A query (waiting for a slot, planning and execution) is cancelled after this long.
    pub timeout: Duration,
    /// Memory one query's operators may reserve (sorts, aggregations, joins). Exceeding it
    /// ends the query with an error; nothing spills to disk.
    pub memory_limit_bytes: usize,
    /// Queries running at once; more wait (within their timeout) for a slot.
    pub max_concurrent_queries: usize,
    /// Worker threads of the query runtime (0: one per CPU).
    pub threads: usize,
    /// Largest result (Arrow memory) a query may return.
    pub max_result_bytes: usize,
    /// Parquet footers and page indexes kept in memory across queries.
    pub metadata_cache_bytes: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_limit_bytes: 512 << 20,
            max_concurrent_queries: 4,
            threads: 0,
            max_result_bytes: 64 << 20,
            metadata_cache_bytes: 256 << 20,
        }
    }
}

impl QueryConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::InvalidRequest(format!(
                "{what} must be greater than zero"
            )))
        };
        if self.timeout.is_zero() {
            return bad("query timeout");
        }
        if self.memory_limit_bytes == 0 {
            return bad("query memory limit");
        }
        if self.max_concurrent_queries == 0 {
            return bad("max_concurrent_queries");
        }
        if self.max_result_bytes == 0 {
            return bad("max_result_bytes");
        }
        Ok(())
    }

    pub(crate) fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}
