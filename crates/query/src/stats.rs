//! What a query read: the files and head rows chosen before planning, and DataFusion's
//! Parquet metrics from the executed plan.

use std::time::Duration;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;

use crate::provider::ScanChoice;

/// Timing and volume of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Planning and execution (not the wait for a slot).
    pub elapsed: Duration,
    pub output_rows: u64,
    pub scan: ScanStats,
}

/// What the scans of a query read (summed over every scan of `spans` in the query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Parquet files in the snapshot, and those left after time and key-index pruning.
    pub files_total: u64,
    pub files_scanned: u64,
    /// Files and row groups the in-memory key indexes ruled out (a lookup by id) before any
    /// file was opened.
    pub files_pruned_key_index: u64,
    pub row_groups_pruned_key_index: u64,
    /// Head batches the batches' bloom filters ruled out the same way.
    pub head_batches_pruned_key_index: u64,
    /// Head rows handed to the scan (after time pruning of head batches).
    pub head_rows_scanned: u64,
    /// Bytes read from Parquet files (footers, bloom filters, pages).
    pub bytes_scanned: u64,
    /// Row groups skipped by statistics, then by bloom filters; row groups read.
    pub row_groups_pruned_statistics: u64,
    pub row_groups_pruned_bloom_filter: u64,
    pub row_groups_read: u64,
    /// Rows skipped by the page index, and by filters evaluated while decoding.
    pub page_index_rows_pruned: u64,
    pub pushdown_rows_pruned: u64,
    /// Rows the Parquet scans produced after their filters.
    pub parquet_rows_out: u64,
}

impl ScanStats {
    pub(crate) fn collect(plan: &dyn ExecutionPlan, choices: &[ScanChoice]) -> Self {
        let mut stats = Self::default();
        for choice in choices {
            stats.files_total += choice.files_total as u64;
            stats.files_scanned += choice.files_scanned as u64;
            stats.files_pruned_key_index += choice.files_pruned_key_index as u64;
            stats.row_groups_pruned_key_index += choice.row_groups_pruned_key_index as u64;
            stats.head_batches_pruned_key_index += choice.head_batches_pruned_key_index as u64;
            stats.head_rows_scanned += choice.head_rows_scanned as u64;
        }
        stats.add_plan(plan);
        stats
    }

    fn add_plan(&mut self, plan: &dyn ExecutionPlan) {
        if let Some(metrics) = plan.metrics() {
            let metrics = metrics.aggregate_by_name();
            let mut is_parquet = false;
            let mut output_rows = 0u64;
            let mut bloom_matched = None;
            let mut stats_matched = 0u64;
            for metric in metrics.iter() {
                match metric.value() {
                    MetricValue::OutputRows(count) => output_rows += count.value() as u64,
                    MetricValue::Count { name, count } => match name.as_ref() {
                        "bytes_scanned" => {
                            is_parquet = true;
                            self.bytes_scanned += count.value() as u64;
                        }
                        "pushdown_rows_pruned" => self.pushdown_rows_pruned += count.value() as u64,
                        _ => {}
                    },
                    MetricValue::PruningMetrics {
                        name,
                        pruning_metrics,
                    } => {
                        let pruned = pruning_metrics.pruned() as u64;
                        let matched = pruning_metrics.matched() as u64;
                        match name.as_ref() {
                            "row_groups_pruned_statistics" => {
                                self.row_groups_pruned_statistics += pruned;
                                stats_matched += matched;
                            }
                            "row_groups_pruned_bloom_filter" => {
                                self.row_groups_pruned_bloom_filter += pruned;
                                // zero when no bloom filter was consulted
                                if pruned + matched > 0 {
                                    bloom_matched = Some(matched);
                                }
                            }
                            "page_index_rows_pruned" => self.page_index_rows_pruned += pruned,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            if is_parquet {
                self.parquet_rows_out += output_rows;
                self.row_groups_read += bloom_matched.unwrap_or(stats_matched);
            }
        }
        for child in plan.children() {
            self.add_plan(child.as_ref());
        }
    }
}
