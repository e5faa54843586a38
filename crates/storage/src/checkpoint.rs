//! The flush commit point: `<data>/wal/checkpoint.json`.
//!
//! Once a checkpoint naming `flushed_through_seq = S` and `pending_flush = F` is durable, the
//! rows of every WAL record with `seq <= S` live in Parquet files, either already in their final
//! place or still in `.staging/F/` (recovery finishes the move).

use std::fs::{self, File};
use std::io::{ErrorKind, Write};

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::{Error, IoContext, Result};
use crate::path::Layout;
use crate::store::sync_dir;

/// Version of the checkpoint file format.
const CHECKPOINT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Checkpoint {
    pub(crate) flushed_through_seq: u64,
    pub(crate) pending_flush: Option<Ulid>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    flushed_through_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_flush: Option<String>,
}

impl Checkpoint {
    /// Reads the checkpoint; a missing file means nothing was ever flushed.
    pub(crate) fn load(layout: &Layout) -> Result<Self> {
        let path = layout.checkpoint();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).at(&path),
        };
        let corrupt = |detail: String| Error::Corrupt {
            what: "checkpoint",
            path: path.clone(),
            detail,
        };
        let file: CheckpointFile =
            serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != CHECKPOINT_VERSION {
            return Err(corrupt(format!("unsupported version {}", file.version)));
        }
        let pending_flush = file
            .pending_flush
            .map(|id| {
                Ulid::from_string(&id).map_err(|e| corrupt(format!("bad pending_flush: {e}")))
            })
            .transpose()?;
        Ok(Self {
            flushed_through_seq: file.flushed_through_seq,
            pending_flush,
        })
    }

    /// Replaces the checkpoint atomically: write a temporary file, fsync, rename, fsync the directory.
    pub(crate) fn store(&self, layout: &Layout) -> Result<()> {
        let file = CheckpointFile {
            version: CHECKPOINT_VERSION,
            flushed_through_seq: self.flushed_through_seq,
            pending_flush: self.pending_flush.map(|id| id.to_string()),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Corrupt {
            what: "checkpoint",
            path: layout.checkpoint(),
            detail: e.to_string(),
        })?;
        let tmp = layout.checkpoint_tmp();
        let mut out = File::create(&tmp).at(&tmp)?;
        out.write_all(&bytes).at(&tmp)?;
        out.sync_all().at(&tmp)?;
        drop(out);
        let path = layout.checkpoint();
        fs::rename(&tmp, &path).at(&path)?;
        sync_dir(&layout.wal_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_checkpoint_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        assert_eq!(Checkpoint::load(&layout).unwrap(), Checkpoint::default());
    }

    #[test]
    fn store_and_load_round_trip_with_pinned_format() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        fs::create_dir_all(layout.wal_dir()).unwrap();
        let id = Ulid::from_string("01JABCDEFGHJKMNPQRSTVWXYZ0").unwrap();
        let checkpoint = Checkpoint {
            flushed_through_seq: 42,
            pending_flush: Some(id),
        };
        checkpoint.store(&layout).unwrap();
        assert_eq!(Checkpoint::load(&layout).unwrap(), checkpoint);
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.checkpoint()).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"version": 1, "flushed_through_seq": 42, "pending_flush": "01JABCDEFGHJKMNPQRSTVWXYZ0"})
        );
        assert!(!layout.checkpoint_tmp().exists());
    }

    #[test]
    fn unknown_version_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        fs::create_dir_all(layout.wal_dir()).unwrap();
        fs::write(
            layout.checkpoint(),
            br#"{"version": 2, "flushed_through_seq": 1}"#,
        )
        .unwrap();
        assert!(matches!(
            Checkpoint::load(&layout),
            Err(Error::Corrupt { .. })
        ));
        fs::write(layout.checkpoint(), b"{").unwrap();
        assert!(matches!(
            Checkpoint::load(&layout),
            Err(Error::Corrupt { .. })
        ));
    }
}
