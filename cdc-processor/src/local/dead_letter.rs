//! Dead letters appended to a JSON-lines file.

use crate::ports::{DeadLetter, DeadLetterSink, SinkError};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends each dead letter as one JSON line (the SQS message body the AWS sink sends).
#[derive(Debug)]
pub struct FileDeadLetterSink {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileDeadLetterSink {
    /// A sink appending to `path` (created on the first letter).
    pub fn new(path: impl AsRef<Path>) -> Self {
        FileDeadLetterSink {
            path: path.as_ref().to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    fn append(&self, letters: &[DeadLetter]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for l in letters {
            serde_json::to_writer(&mut buf, l)?;
            buf.push(b'\n');
        }
        let _guard = self
            .lock
            .lock()
            .map_err(|_| std::io::Error::other("lock poisoned"))?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&buf)?;
        f.sync_data()
    }
}

impl DeadLetterSink for FileDeadLetterSink {
    fn send(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Vec<Result<(), SinkError>>> + Send {
        let r = match self.append(letters) {
            Ok(()) => letters.iter().map(|_| Ok(())).collect(),
            Err(e) => {
                let msg = format!("{}: {e}", self.path.display());
                letters
                    .iter()
                    .map(|_| Err(SinkError(msg.clone())))
                    .collect()
            }
        };
        std::future::ready(r)
    }
}
