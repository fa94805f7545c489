//! Checkpoints as one JSON file per key under a directory, replaced atomically (write to a
//! temporary file, sync, rename).

use crate::ports::{Advance, CheckpointKey, CheckpointStore, StateError};
use crate::sequence::Position;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The embedded checkpoint store of the local mode.
#[derive(Debug)]
pub struct FileCheckpointStore {
    dir: PathBuf,
    lock: Mutex<()>,
}

#[derive(Serialize, Deserialize)]
struct File {
    #[serde(flatten)]
    key: CheckpointKey,
    position: Position,
}

impl FileCheckpointStore {
    /// A store under `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.as_ref())?;
        Ok(FileCheckpointStore {
            dir: dir.as_ref().to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    fn path(&self, key: &CheckpointKey) -> PathBuf {
        let mut h = Sha256::new();
        for part in [&key.processor, &key.stream, &key.shard] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        self.dir
            .join(format!("{}.json", hex::encode(&h.finalize()[..16])))
    }

    fn read(&self, key: &CheckpointKey) -> Result<Option<Position>, StateError> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: File = serde_json::from_slice(&bytes).map_err(|e| {
                    StateError(format!("{}: unreadable checkpoint: {e}", path.display()))
                })?;
                Ok(Some(file.position))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError(format!("{}: {e}", path.display()))),
        }
    }

    fn write(&self, key: &CheckpointKey, position: &Position) -> Result<(), StateError> {
        let path = self.path(key);
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let body = serde_json::to_vec_pretty(&File {
            key: key.clone(),
            position: position.clone(),
        })
        .map_err(|e| StateError(e.to_string()))?;
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        result.map_err(|e| StateError(format!("{}: {e}", path.display())))
    }
}

impl CheckpointStore for FileCheckpointStore {
    fn load(
        &self,
        key: &CheckpointKey,
    ) -> impl Future<Output = Result<Option<Position>, StateError>> + Send {
        std::future::ready(self.read(key))
    }

    fn advance(
        &self,
        key: &CheckpointKey,
        to: &Position,
    ) -> impl Future<Output = Result<Advance, StateError>> + Send {
        let result = (|| {
            let _guard = self
                .lock
                .lock()
                .map_err(|_| StateError("checkpoint lock poisoned".into()))?;
            if self.read(key)?.is_some_and(|current| current >= *to) {
                return Ok(Advance::AlreadyAhead);
            }
            self.write(key, to)?;
            Ok(Advance::Moved)
        })();
        std::future::ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn moves_only_forward() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path()).unwrap();
        let key = CheckpointKey {
            processor: "p".into(),
            stream: "s".into(),
            shard: "shardId-1".into(),
        };
        let pos = |s: &str| Position {
            sequence: s.parse().unwrap(),
            sub_sequence: None,
        };
        assert_eq!(store.load(&key).await.unwrap(), None);
        assert_eq!(
            store.advance(&key, &pos("10")).await.unwrap(),
            Advance::Moved
        );
        assert_eq!(
            store.advance(&key, &pos("9")).await.unwrap(),
            Advance::AlreadyAhead
        );
        let again = FileCheckpointStore::new(dir.path()).unwrap();
        assert_eq!(again.load(&key).await.unwrap(), Some(pos("10")));
    }
}
