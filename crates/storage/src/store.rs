//! The seam between the flush protocol and where Parquet files live.
//!
//! Local disk is the only backend for now; an `object_store` backend (S3, GCS, Azure)
//! implements the same trait later. The WAL and the checkpoint stay on local disk in any case.

use std::fmt::Debug;
use std::fs::{self, File};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::config::TableSpec;
use crate::error::{IoContext, Result};
use crate::key_index::KeyIndex;

/// Durable file operations on paths relative to the data directory.
pub(crate) trait PartitionStore: Debug + Send + Sync {
    /// Writes a whole file and makes it and its directory entries durable.
    fn put(&self, relative: &Path, bytes: &[u8]) -> Result<()>;
    /// Writes a whole file through `fill`, which streams its bytes, and makes it and its
    /// directory entries durable. Returns the file's size.
    fn put_streamed(
        &self,
        relative: &Path,
        fill: &mut dyn FnMut(&mut (dyn Write + Send)) -> Result<()>,
    ) -> Result<u64>;
    /// Removes a file; a missing file is not an error.
    fn remove_file(&self, relative: &Path) -> Result<()>;
    /// Moves a file; the move is durable when this returns. Creates missing directories.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// All files under a directory, recursively, as relative paths with their sizes.
    /// A missing directory lists as empty.
    fn list(&self, relative_dir: &Path) -> Result<Vec<(PathBuf, u64)>>;
    /// The names of the direct subdirectories of a directory (missing: none).
    fn list_dirs(&self, relative_dir: &Path) -> Result<Vec<String>>;
    /// Removes a directory and everything in it; a missing directory is not an error.
    fn remove_dir_all(&self, relative_dir: &Path) -> Result<()>;
    /// The Parquet footer of a file and the in-memory [`KeyIndex`] of `spec`'s bloom-filter
    /// columns (empty, with a warning, when the bloom filters cannot be read).
    fn parquet_footer(
        &self,
        relative: &Path,
        spec: &TableSpec,
    ) -> Result<(ParquetMetaData, KeyIndex)>;
    /// The absolute location of a file, for readers outside storage.
    fn absolute(&self, relative: &Path) -> PathBuf;
}

/// Files under a local directory, through `std::fs`.
#[derive(Debug)]
pub(crate) struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }
}

impl PartitionStore for LocalDisk {
    fn put(&self, relative: &Path, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(relative);
        self.put_streamed(relative, &mut |out| out.write_all(bytes).at(&path))?;
        Ok(())
    }

    fn put_streamed(
        &self,
        relative: &Path,
        fill: &mut dyn FnMut(&mut (dyn Write + Send)) -> Result<()>,
    ) -> Result<u64> {
        let path = self.root.join(relative);
        if let Some(parent) = relative.parent() {
            create_dir_all_durable(&self.root, parent)?;
        }
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).at(&path)?);
        fill(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error()).at(&path)?;
        file.sync_all().at(&path)?;
        Ok(file.metadata().at(&path)?.len())
    }

    fn remove_file(&self, relative: &Path) -> Result<()> {
        let path = self.root.join(relative);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at(&path),
        }
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (from_abs, to_abs) = (self.root.join(from), self.root.join(to));
        if let Some(parent) = to.parent() {
            create_dir_all_durable(&self.root, parent)?;
        }
        fs::rename(&from_abs, &to_abs).at(&from_abs)?;
        if let Some(parent) = to_abs.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    fn list(&self, relative_dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
        let mut out = Vec::new();
        let mut pending = vec![relative_dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let abs = self.root.join(&dir);
            let entries = match fs::read_dir(&abs) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e).at(&abs),
            };
            for entry in entries {
                let entry = entry.at(&abs)?;
                let file_type = entry.file_type().at(&entry.path())?;
                let relative = dir.join(entry.file_name());
                if file_type.is_dir() {
                    pending.push(relative);
                } else if file_type.is_file() {
                    let len = entry.metadata().at(&entry.path())?.len();
                    out.push((relative, len));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn list_dirs(&self, relative_dir: &Path) -> Result<Vec<String>> {
        let abs = self.root.join(relative_dir);
        let entries = match fs::read_dir(&abs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&abs),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.at(&abs)?;
            if entry.file_type().at(&entry.path())?.is_dir() {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    fn remove_dir_all(&self, relative_dir: &Path) -> Result<()> {
        let abs = self.root.join(relative_dir);
        match fs::remove_dir_all(&abs) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at(&abs),
        }
        if let Some(parent) = abs.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    fn parquet_footer(
        &self,
        relative: &Path,
        spec: &TableSpec,
    ) -> Result<(ParquetMetaData, KeyIndex)> {
        let path = self.root.join(relative);
        let file = Arc::new(File::open(&path).at(&path)?);
        let metadata = ParquetMetaDataReader::new().parse_and_finish(file.as_ref())?;
        // an unreadable bloom filter costs lookups their shortcut, not the file its rows
        let keys = KeyIndex::read(spec, &metadata, &file).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "no key index for this file; lookups will open it");
            KeyIndex::default()
        });
        Ok((metadata, keys))
    }

    fn absolute(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }
}

/// fsyncs a directory so that the entries created or renamed in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// `create_dir_all` of `root/relative`, fsyncing the parent of every directory it creates.
pub(crate) fn create_dir_all_durable(root: &Path, relative: &Path) -> Result<()> {
    let mut current = root.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            continue;
        };
        let parent = current.clone();
        current.push(name);
        match fs::create_dir(&current) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at(&current),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_rename_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDisk::new(dir.path().to_path_buf());
        let staged = Path::new(".staging/x/t/a/b.bin");
        store.put(staged, b"hello").unwrap();
        assert!(dir.path().join(staged).exists());
        assert_eq!(
            store.list(Path::new(".staging")).unwrap(),
            vec![(staged.to_path_buf(), 5)]
        );
        assert_eq!(
            store.list_dirs(Path::new(".staging")).unwrap(),
            vec!["x".to_string()]
        );

        store.rename(staged, Path::new("t/a/b.bin")).unwrap();
        assert!(!dir.path().join(staged).exists());
        assert_eq!(fs::read(dir.path().join("t/a/b.bin")).unwrap(), b"hello");

        store.remove_dir_all(Path::new(".staging")).unwrap();
        store.remove_dir_all(Path::new(".staging")).unwrap();
        assert!(store.list(Path::new(".staging")).unwrap().is_empty());
        assert!(store.list_dirs(Path::new("missing")).unwrap().is_empty());
    }

    #[test]
    fn a_file_with_an_unreadable_bloom_filter_keeps_its_rows_but_no_key_index() {
        let spec = crate::test_util::spec();
        let rows = crate::test_util::batch_with(0..300, |id| crate::test_util::BASE_NS + id as i64);
        let file = crate::parquet_file::encode_parquet(&spec, &[rows], 100, 1)
            .unwrap()
            .remove(0);
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDisk::new(dir.path().to_path_buf());
        let good = Path::new("good.parquet");
        store.put(good, &file.bytes).unwrap();
        let (_, keys) = store.parquet_footer(good, &spec).unwrap();
        assert_eq!(keys, file.keys);
        assert!(keys.covers("trace_id"));

        // overwrite the first row group's bloom filter header with garbage
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&file.bytes)
            .unwrap();
        let leaf = metadata
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().parts() == ["trace_id"])
            .unwrap();
        let offset = metadata
            .row_group(0)
            .column(leaf)
            .bloom_filter_offset()
            .unwrap() as usize;
        let mut bytes = file.bytes.to_vec();
        bytes[offset..offset + 16].fill(0xff);
        let bad = Path::new("bad.parquet");
        store.put(bad, &bytes).unwrap();
        let (metadata, keys) = store.parquet_footer(bad, &spec).unwrap();
        assert_eq!(metadata.file_metadata().num_rows(), 300);
        assert!(!keys.covers("trace_id"), "no index rather than no file");
    }
}
