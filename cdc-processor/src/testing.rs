//! In-memory implementations of the ports, with switches to inject failures. Used by this crate's
//! tests and available to other crates with the `testing` feature.

use crate::ports::{
    Advance, CheckpointKey, CheckpointStore, DeadLetter, DeadLetterSink, PreparedEntry,
    ProcessorState, PublishOutcome, Publisher, SinkError, StateError, StateStore,
};
use crate::sequence::Position;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

type OutcomeFn = dyn Fn(&PreparedEntry) -> PublishOutcome + Send + Sync;

/// A publisher that keeps what it publishes. An optional function decides each entry's outcome.
pub struct MemoryPublisher {
    published: Mutex<Vec<PreparedEntry>>,
    requests: Mutex<Vec<usize>>,
    outcome: Option<Box<OutcomeFn>>,
}

impl Default for MemoryPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryPublisher")
            .field(
                "published",
                &self.published.lock().map(|p| p.len()).unwrap_or(0),
            )
            .finish_non_exhaustive()
    }
}

impl MemoryPublisher {
    /// Publishes everything.
    pub fn new() -> Self {
        MemoryPublisher {
            published: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            outcome: None,
        }
    }

    /// Decides each entry's outcome with `f`; entries with `Published` are kept.
    pub fn with_outcomes(
        f: impl Fn(&PreparedEntry) -> PublishOutcome + Send + Sync + 'static,
    ) -> Self {
        MemoryPublisher {
            outcome: Some(Box::new(f)),
            ..Self::new()
        }
    }

    /// The entries published so far, in order.
    pub fn published(&self) -> Vec<PreparedEntry> {
        self.published.lock().expect("not poisoned").clone()
    }

    /// The number of entries of each publish call so far.
    pub fn requests(&self) -> Vec<usize> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

impl Publisher for MemoryPublisher {
    fn publish(
        &self,
        entries: &[PreparedEntry],
    ) -> impl Future<Output = Vec<PublishOutcome>> + Send {
        self.requests
            .lock()
            .expect("not poisoned")
            .push(entries.len());
        let outcomes: Vec<PublishOutcome> = entries
            .iter()
            .map(|e| match &self.outcome {
                Some(f) => f(e),
                None => PublishOutcome::Published,
            })
            .collect();
        let mut published = self.published.lock().expect("not poisoned");
        for (e, o) in entries.iter().zip(&outcomes) {
            if *o == PublishOutcome::Published {
                published.push(e.clone());
            }
        }
        std::future::ready(outcomes)
    }
}

/// Checkpoints in a map; `load` or `advance` can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    positions: Mutex<HashMap<CheckpointKey, Position>>,
    /// When set, `load` fails.
    pub fail_load: AtomicBool,
    /// When set, `advance` fails.
    pub fail_advance: AtomicBool,
    /// Successful `advance` calls that moved a checkpoint.
    pub moves: AtomicUsize,
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The checkpoint of a key.
    pub fn get(&self, key: &CheckpointKey) -> Option<Position> {
        self.positions
            .lock()
            .expect("not poisoned")
            .get(key)
            .cloned()
    }

    /// Sets a checkpoint directly.
    pub fn set(&self, key: CheckpointKey, position: Position) {
        self.positions
            .lock()
            .expect("not poisoned")
            .insert(key, position);
    }
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load(
        &self,
        key: &CheckpointKey,
    ) -> impl Future<Output = Result<Option<Position>, StateError>> + Send {
        let r = if self.fail_load.load(Ordering::SeqCst) {
            Err(StateError("injected load failure".into()))
        } else {
            Ok(self.get(key))
        };
        std::future::ready(r)
    }

    fn advance(
        &self,
        key: &CheckpointKey,
        to: &Position,
    ) -> impl Future<Output = Result<Advance, StateError>> + Send {
        let r = if self.fail_advance.load(Ordering::SeqCst) {
            Err(StateError("injected advance failure".into()))
        } else {
            let mut map = self.positions.lock().expect("not poisoned");
            match map.get(key) {
                Some(current) if current >= to => Ok(Advance::AlreadyAhead),
                _ => {
                    map.insert(key.clone(), to.clone());
                    self.moves.fetch_add(1, Ordering::SeqCst);
                    Ok(Advance::Moved)
                }
            }
        };
        std::future::ready(r)
    }
}

/// Dead letters in a list; sending can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryDeadLetterSink {
    letters: Mutex<Vec<DeadLetter>>,
    /// When set, every send fails.
    pub fail: AtomicBool,
}

impl MemoryDeadLetterSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The letters received so far.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().expect("not poisoned").clone()
    }
}

impl DeadLetterSink for MemoryDeadLetterSink {
    fn send(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Vec<Result<(), SinkError>>> + Send {
        let r = if self.fail.load(Ordering::SeqCst) {
            letters
                .iter()
                .map(|_| Err(SinkError("injected sink failure".into())))
                .collect()
        } else {
            self.letters
                .lock()
                .expect("not poisoned")
                .extend(letters.iter().cloned());
            letters.iter().map(|_| Ok(())).collect()
        };
        std::future::ready(r)
    }
}

/// Processor state in a map.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    states: Mutex<HashMap<String, ProcessorState>>,
}

impl StateStore for MemoryStateStore {
    fn save_state(
        &self,
        processor: &str,
        state: &ProcessorState,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        self.states
            .lock()
            .expect("not poisoned")
            .insert(processor.to_string(), state.clone());
        std::future::ready(Ok(()))
    }

    fn get_state(
        &self,
        processor: &str,
    ) -> impl Future<Output = Result<Option<ProcessorState>, StateError>> + Send {
        std::future::ready(Ok(self
            .states
            .lock()
            .expect("not poisoned")
            .get(processor)
            .cloned()))
    }
}
