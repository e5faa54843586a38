//! The catalog: which Parquet files each table has. Rebuilt from a listing at `open`,
//! extended by each flush, edited by each compaction.

use std::collections::HashSet;

use ulid::Ulid;

use crate::config::TableSpec;
use crate::error::Result;
use crate::parquet_file::{ParquetFile, describe_file};
use crate::path::PartitionedPath;
use crate::stitch::replaced_files;
use crate::store::PartitionStore;

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    files: Vec<ParquetFile>,
    bytes: u64,
    rows: u64,
}

impl Catalog {
    /// Lists the table's directory and reads each file's footer. Files that do not follow the
    /// layout are ignored; unreadable ones are logged and left out. Files that a merged file
    /// replaces (a compaction interrupted before it deleted them) are deleted.
    pub(crate) fn load(store: &dyn PartitionStore, spec: &TableSpec) -> Result<Self> {
        let mut catalog = Self::default();
        let mut replaced = HashSet::new();
        for (relative, size) in store.list(&PartitionedPath::table_dir(spec.name))? {
            let parsed = match PartitionedPath::from_relative_path(&relative) {
                Ok(parsed) if parsed.table == spec.name => parsed,
                Ok(_) | Err(_) => {
                    tracing::warn!(path = %relative.display(), "ignoring a file outside the partition layout");
                    continue;
                }
            };
            match store.parquet_footer(&relative, spec) {
                Ok((metadata, keys)) => {
                    replaced.extend(replaced_files(&metadata));
                    let path = store.absolute(&relative);
                    let file = describe_file(spec, parsed, path, size, &metadata, keys);
                    catalog.add(file);
                }
                Err(e) => {
                    tracing::error!(path = %relative.display(), error = %e, "leaving out an unreadable parquet file");
                }
            }
        }
        for file in catalog.remove(|id| replaced.contains(id)) {
            tracing::info!(path = %file.path.display(), "deleting a file that a merged file replaces");
            store.remove_file(&file.relative.to_relative_path())?;
        }
        catalog.files.sort_by(|a, b| a.relative.cmp(&b.relative));
        Ok(catalog)
    }

    /// Puts `merged` in place of the files `sources` names, at once. Returns the files it took
    /// out (those of `sources` still listed).
    pub(crate) fn replace(&mut self, sources: &[Ulid], merged: ParquetFile) -> Vec<ParquetFile> {
        let gone = self.remove(|id| sources.contains(id));
        self.add(merged);
        self.files.sort_by(|a, b| a.relative.cmp(&b.relative));
        gone
    }

    /// Takes out the files whose id `is_removed` picks, and returns them.
    fn remove(&mut self, is_removed: impl Fn(&Ulid) -> bool) -> Vec<ParquetFile> {
        self.take(|file| is_removed(&file.relative.file_id))
    }

    /// Takes out the files `is_taken` picks, and returns them.
    pub(crate) fn take(&mut self, is_taken: impl Fn(&ParquetFile) -> bool) -> Vec<ParquetFile> {
        let (gone, kept): (Vec<ParquetFile>, Vec<ParquetFile>) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| is_taken(f));
        for file in &gone {
            self.bytes -= file.size_bytes;
            self.rows -= file.rows;
        }
        self.files = kept;
        gone
    }

    pub(crate) fn add(&mut self, file: ParquetFile) {
        self.bytes += file.size_bytes;
        self.rows += file.rows;
        self.files.push(file);
    }

    pub(crate) fn files(&self) -> &[ParquetFile] {
        &self.files
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }
}
