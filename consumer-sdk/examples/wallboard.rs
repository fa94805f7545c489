//! A live contact-centre wallboard, as the Wallboards service would write it with consumer-sdk:
//! agent states per team (from `agent_states`), queue depth and longest wait per queue (from
//! `queue_metrics`), team names (from `teams`).
//!
//! From a file of events (one EventBridge event or SQS body per line):
//!
//! ```text
//! cargo run -p consumer-sdk --example wallboard -- consumer-sdk/examples/wallboard-events.jsonl
//! ```
//!
//! From the SQS queue an EventBridge rule feeds (here the local emulator):
//!
//! ```text
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
//! AWS_REGION=us-east-1 cargo run -p consumer-sdk --features sqs --example wallboard -- \
//!     --sqs-queue-url http://127.0.0.1:5000/123456789012/wallboards [--idle-exit 3]
//! ```
//!
//! What it shows about consuming the events: deduplication on `eventId` (redeliveries and archive
//! replays), dropping out-of-order updates with the row's own version counter, merging partial
//! images column by column, DELETE and TRUNCATE, and ignoring tables it does not need (including
//! tables newer than the crate).

use consumer_sdk::cdc_models::generated::agent_states::{AgentStateImage, AgentStateState};
use consumer_sdk::cdc_models::generated::queue_metrics::QueueMetricImage;
use consumer_sdk::cdc_models::generated::teams::TeamImage;
use consumer_sdk::chrono::{DateTime, Utc};
use consumer_sdk::{Change, Column, Event, Operation, TableChange};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

type Id = uuid::Uuid;

/// How many event ids the board remembers for deduplication.
const DEDUPE_WINDOW: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AgentTile {
    team_id: Option<Id>,
    state: Option<AgentStateState>,
    state_since: Option<DateTime<Utc>>,
    version: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QueueTile {
    name: Option<String>,
    waiting: Option<u64>,
    longest_wait_seconds: Option<u64>,
    agents_available: Option<u64>,
    updated_at: Option<DateTime<Utc>>,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Changed,
    Duplicate,
    Stale,
    Ignored,
}

#[derive(Debug, Default)]
pub(crate) struct Board {
    pub(crate) agents: HashMap<Id, AgentTile>,
    pub(crate) queues: HashMap<Id, QueueTile>,
    pub(crate) team_names: HashMap<Id, String>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    as_of: Option<DateTime<Utc>>,
    pub(crate) counts: BTreeMap<&'static str, usize>,
}

/// Copies a column into a tile field when the image carries it (absent columns keep the old value).
fn merge<T: Clone>(column: &Column<T>, into: &mut Option<T>) {
    match column {
        Column::Absent => {}
        Column::Null => *into = None,
        Column::Value(v) => *into = Some(v.clone()),
    }
}

impl Board {
    fn apply(&mut self, event: &Event) -> Applied {
        let key = event.dedupe_key().to_string();
        let result = if self.seen.contains(&key) {
            Applied::Duplicate
        } else {
            self.seen.insert(key.clone());
            self.seen_order.push_back(key);
            if self.seen_order.len() > DEDUPE_WINDOW {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
            match &event.change {
                Change::AgentStates(c) => self.agent(c),
                Change::QueueMetrics(c) => self.queue(c),
                Change::Teams(c) => self.team(c),
                _ => Applied::Ignored,
            }
        };
        if result != Applied::Duplicate {
            let ts = event.change.timestamp();
            self.as_of = Some(self.as_of.map_or(ts, |t| t.max(ts)));
        }
        *self
            .counts
            .entry(match result {
                Applied::Changed => "applied",
                Applied::Duplicate => "duplicates",
                Applied::Stale => "out of order",
                Applied::Ignored => "other tables",
            })
            .or_default() += 1;
        result
    }

    fn agent(&mut self, c: &TableChange<AgentStateImage>) -> Applied {
        match c.info.operation {
            Operation::Truncate => {
                self.agents.clear();
                Applied::Changed
            }
            Operation::Delete => match &c.keys {
                Some(k) => {
                    self.agents.remove(&k.agent_id);
                    Applied::Changed
                }
                None => Applied::Ignored,
            },
            _ => {
                let (Some(keys), Some(after)) = (&c.keys, &c.after) else {
                    return Applied::Ignored;
                };
                let tile = self.agents.entry(keys.agent_id).or_default();
                // `state_version` grows with every state change: drop older updates.
                if let (Some(new), Some(old)) = (after.state_version.value(), tile.version) {
                    if *new <= old {
                        return Applied::Stale;
                    }
                }
                merge(&after.team_id, &mut tile.team_id);
                merge(&after.state, &mut tile.state);
                merge(&after.state_since, &mut tile.state_since);
                merge(&after.state_version, &mut tile.version);
                Applied::Changed
            }
        }
    }

    fn queue(&mut self, c: &TableChange<QueueMetricImage>) -> Applied {
        match c.info.operation {
            Operation::Truncate => {
                self.queues.clear();
                Applied::Changed
            }
            Operation::Delete => match &c.keys {
                Some(k) => {
                    self.queues.remove(&k.queue_id);
                    Applied::Changed
                }
                None => Applied::Ignored,
            },
            _ => {
                let (Some(keys), Some(after)) = (&c.keys, &c.after) else {
                    return Applied::Ignored;
                };
                let tile = self.queues.entry(keys.queue_id).or_default();
                if let (Some(new), Some(old)) = (after.updated_at.value(), tile.updated_at) {
                    if *new < old {
                        return Applied::Stale;
                    }
                }
                merge(&after.queue_name, &mut tile.name);
                merge(&after.contacts_waiting, &mut tile.waiting);
                merge(&after.longest_wait_seconds, &mut tile.longest_wait_seconds);
                merge(&after.agents_available, &mut tile.agents_available);
                merge(&after.updated_at, &mut tile.updated_at);
                Applied::Changed
            }
        }
    }

    fn team(&mut self, c: &TableChange<TeamImage>) -> Applied {
        match (&c.keys, c.info.operation) {
            (_, Operation::Truncate) => self.team_names.clear(),
            (Some(k), Operation::Delete) => {
                self.team_names.remove(&k.id);
            }
            (Some(k), _) => {
                if let Some(name) = c.after.as_ref().and_then(|a| a.name.value()) {
                    self.team_names.insert(k.id, name.clone());
                }
            }
            (None, _) => return Applied::Ignored,
        }
        Applied::Changed
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let as_of = self.as_of.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        });
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(out, "WALLBOARD  as of {as_of}  ({})", counts.join(", "));

        // Teams, by name; agents without a team last.
        let mut teams: BTreeMap<(bool, String), Vec<(&Id, &AgentTile)>> = BTreeMap::new();
        for (id, tile) in &self.agents {
            let name = match tile.team_id {
                Some(t) => self
                    .team_names
                    .get(&t)
                    .cloned()
                    .unwrap_or_else(|| format!("team {}", short(&t))),
                None => "No team".to_string(),
            };
            teams
                .entry((tile.team_id.is_none(), name))
                .or_default()
                .push((id, tile));
        }
        for ((_, name), mut agents) in teams {
            agents.sort_by_key(|(id, t)| (state_rank(t.state.as_ref()), **id));
            let mut by_state: BTreeMap<u8, (String, usize)> = BTreeMap::new();
            for (_, t) in &agents {
                by_state
                    .entry(state_rank(t.state.as_ref()))
                    .or_insert_with(|| (state_name(t.state.as_ref()), 0))
                    .1 += 1;
            }
            let summary: Vec<String> = by_state.values().map(|(s, n)| format!("{n} {s}")).collect();
            let _ = writeln!(out, "\n{name}: {}", summary.join(", "));
            for (id, t) in agents {
                let since = match (t.state_since, self.as_of) {
                    (Some(s), Some(now)) => duration(now.signed_duration_since(s).num_seconds()),
                    _ => "-".to_string(),
                };
                let _ = writeln!(
                    out,
                    "  agent {}  {:<16} {since:>8}",
                    short(id),
                    state_name(t.state.as_ref())
                );
            }
        }

        let _ = writeln!(
            out,
            "\n{:<28} {:>7} {:>12} {:>9}",
            "QUEUE", "WAITING", "LONGEST WAIT", "AVAILABLE"
        );
        let mut queues: Vec<_> = self.queues.iter().collect();
        queues.sort_by(|a, b| {
            b.1.waiting
                .cmp(&a.1.waiting)
                .then_with(|| a.1.name.cmp(&b.1.name))
        });
        for (id, q) in queues {
            let name = q
                .name
                .clone()
                .unwrap_or_else(|| format!("queue {}", short(id)));
            let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let _ = writeln!(
                out,
                "{:<28} {:>7} {:>12} {:>9}",
                name,
                show(q.waiting),
                q.longest_wait_seconds.map_or("-".to_string(), |s| duration(
                    i64::try_from(s).unwrap_or(i64::MAX)
                )),
                show(q.agents_available)
            );
        }
        out
    }
}

fn short(id: &Id) -> String {
    id.to_string()[..8].to_string()
}

fn state_rank(state: Option<&AgentStateState>) -> u8 {
    use AgentStateState::*;
    match state {
        Some(Available) => 0,
        Some(OnCall) => 1,
        Some(OnChat) => 2,
        Some(AfterCallWork) => 3,
        Some(Break | Lunch) => 4,
        Some(Training | Meeting) => 5,
        Some(Unavailable) => 6,
        Some(Offline) => 7,
        // A state a newer schema added: shown as it came, after the known ones.
        Some(Other(_)) => 8,
        None => 9,
    }
}

fn state_name(state: Option<&AgentStateState>) -> String {
    state.map_or("unknown".to_string(), |s| s.to_string())
}

fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Applies every line of a file of events; unreadable lines are reported (with their JSON path,
/// never their values) and skipped.
pub(crate) fn run_file(board: &mut Board, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match Event::from_json(line) {
            Ok(event) => {
                board.apply(&event);
            }
            Err(e) => problems.push(format!("line {}: {e}", n + 1)),
        }
    }
    problems
}

#[cfg(feature = "sqs")]
pub(crate) async fn run_sqs(
    board: &mut Board,
    queue_url: &str,
    idle_exit: Option<u32>,
) -> Result<(), String> {
    use consumer_sdk::sqs::SqsPoller;
    use std::ops::ControlFlow;
    // A real service would use the default credential chain; AWS_ENDPOINT_URL points the client
    // at the local emulator. Rustls with ring keeps the build free of C code.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let poller = SqsPoller::new(aws_sdk_sqs::Client::new(&config), queue_url)
        .wait_time_seconds(if idle_exit.is_some() { 1 } else { 20 });
    let mut idle = 0;
    let changed = std::cell::Cell::new(false);
    let shared = std::cell::RefCell::new(std::mem::take(board));
    let result = poller
        .run(
            async |event: Event| {
                if shared.borrow_mut().apply(&event) == Applied::Changed {
                    changed.set(true);
                }
                Ok::<(), std::convert::Infallible>(())
            },
            |outcome| {
                for f in &outcome.failures {
                    eprintln!("message {f}");
                }
                if changed.replace(false) {
                    println!("{}", shared.borrow().render());
                }
                idle = if outcome.received == 0 { idle + 1 } else { 0 };
                match idle_exit {
                    Some(n) if idle >= n => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            },
        )
        .await;
    *board = shared.into_inner();
    result.map_err(|e| e.to_string())
}

#[cfg(feature = "sqs")]
async fn run_queue(board: &mut Board, url: &str, idle_exit: Option<u32>) {
    if let Err(e) = run_sqs(board, url, idle_exit).await {
        eprintln!("wallboard: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(feature = "sqs"))]
async fn run_queue(_board: &mut Board, _url: &str, _idle_exit: Option<u32>) {
    eprintln!("wallboard: reading from SQS needs `--features sqs`");
    std::process::exit(2);
}

/// A live contact-centre wallboard built from CDC.TableChange events: agent states per team,
/// queue depth and longest wait per queue.
///
/// Reads a file of events (one EventBridge event or SQS body per line; default: the shipped
/// sample), or polls the SQS queue an EventBridge rule feeds (`--features sqs`). Exit status: 0
/// when every line was an event, 1 when a line could not be read as one (the board of the others
/// is still printed) or the file cannot be read, 2 for a usage error.
#[derive(clap::Parser, Debug)]
#[command(name = "wallboard", about, long_about)]
struct Cli {
    /// Events file (JSON lines); default examples/wallboard-events.jsonl.
    #[arg(value_name = "EVENTS.jsonl", conflicts_with = "sqs_queue_url")]
    file: Option<std::path::PathBuf>,
    /// Poll this SQS queue instead of reading a file (needs `--features sqs`; credentials,
    /// region and AWS_ENDPOINT_URL from the environment).
    #[arg(long, value_name = "URL")]
    sqs_queue_url: Option<String>,
    /// With --sqs-queue-url: stop after this many empty receives in a row.
    #[arg(long, value_name = "N", requires = "sqs_queue_url")]
    idle_exit: Option<u32>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = <Cli as clap::Parser>::parse();
    let mut board = Board::default();
    if let Some(url) = cli.sqs_queue_url {
        run_queue(&mut board, &url, cli.idle_exit).await;
        return;
    }
    let path = cli.file.unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/wallboard-events.jsonl"
        )
        .into()
    });
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("wallboard: cannot read {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let problems = run_file(&mut board, &text);
    for problem in &problems {
        eprintln!("wallboard: skipped {problem}");
    }
    print!("{}", board.render());
    if !problems.is_empty() {
        eprintln!(
            "wallboard: {} line(s) of {} were not events",
            problems.len(),
            path.display()
        );
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &str = include_str!("wallboard-events.jsonl");

    fn id(s: &str) -> Id {
        s.parse().unwrap()
    }

    #[test]
    fn the_command_line_has_real_help_and_rejects_unknown_flags() {
        use clap::Parser;
        let help = Cli::try_parse_from(["wallboard", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let text = help.to_string();
        for needle in [
            "Usage:",
            "--sqs-queue-url",
            "--idle-exit",
            "EVENTS.jsonl",
            "Exit status",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        let bogus = Cli::try_parse_from(["wallboard", "--bogus"]).unwrap_err();
        assert_eq!(bogus.kind(), clap::error::ErrorKind::UnknownArgument);
        assert_eq!(bogus.exit_code(), 2);
        // --idle-exit only means something with a queue.
        assert!(Cli::try_parse_from(["wallboard", "--idle-exit", "3"]).is_err());
        let cli = Cli::try_parse_from(["wallboard", "events.jsonl"]).unwrap();
        assert_eq!(
            cli.file.as_deref(),
            Some(std::path::Path::new("events.jsonl"))
        );
    }

    #[test]
    fn bad_input_is_reported_line_by_line() {
        let mut board = Board::default();
        let problems = run_file(&mut board, "not json\n\n{\"detail\": 1}\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 1: "), "{problems:?}");
        assert!(problems[1].starts_with("line 3: "), "{problems:?}");
    }

    #[test]
    fn every_line_of_the_sample_file_is_a_readable_event() {
        let mut board = Board::default();
        assert_eq!(run_file(&mut board, EVENTS), Vec::<String>::new());
        let lines = EVENTS.lines().count();
        assert_eq!(board.counts.values().sum::<usize>(), lines);
    }

    #[test]
    fn the_board_from_the_sample_file() {
        let mut board = Board::default();
        run_file(&mut board, EVENTS);
        assert_eq!(board.counts["duplicates"], 2, "a redelivery and a replay");
        assert_eq!(board.counts["out of order"], 1);
        assert_eq!(
            board.counts["other tables"], 2,
            "calls and a table newer than the crate"
        );
        // The floater was deleted; seven agents remain.
        assert_eq!(board.agents.len(), 7);
        assert!(!board
            .agents
            .contains_key(&id("e0af9e8d-7c6b-4fee-9ddc-cbbaa9988777")));
        let a0 = &board.agents[&id("7f3e2d1c-0b9a-4877-a665-544332211000")];
        assert_eq!(
            a0.state,
            Some(AgentStateState::AfterCallWork),
            "the stale update was dropped"
        );
        assert_eq!(a0.version, Some(4128));
        let billing = &board.queues[&id("3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f")];
        assert_eq!(
            (
                billing.waiting,
                billing.longest_wait_seconds,
                billing.agents_available
            ),
            (Some(2), Some(61), Some(2))
        );
        let text = board.render();
        assert!(
            text.starts_with("WALLBOARD  as of 2026-11-25 10:43:10 UTC"),
            "{text}"
        );
        assert!(
            text.contains("Billing Tier 2: 2 available, 1 on_call, 1 after_call_work"),
            "{text}"
        );
        assert!(
            text.contains("Retention & Save: 1 available, 2 on_call"),
            "{text}"
        );
        assert!(
            text.contains("Retention - UK                     6       2m 22s         0"),
            "{text}"
        );
    }

    #[test]
    fn partial_images_merge_and_truncate_clears() {
        let mut board = Board::default();
        run_file(&mut board, EVENTS);
        let detail = r#"{"version": "1.0", "eventId": "partial-1", "eventType": "agent_state.changed",
          "table": "agent_states", "operation": "UPDATE", "timestamp": "2026-11-25T10:44:00Z",
          "before": null, "beforeImage": null,
          "after": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000", "state": "available",
                    "state_version": 4129},
          "afterImage": "partial", "keys": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000"},
          "redactions": {}, "metadata": {"sourceFormat": "dms", "snapshot": false}}"#;
        assert_eq!(
            board.apply(&Event::from_json(detail).unwrap()),
            Applied::Changed
        );
        let a0 = &board.agents[&id("7f3e2d1c-0b9a-4877-a665-544332211000")];
        assert_eq!(a0.state, Some(AgentStateState::Available));
        assert_eq!(
            a0.team_id,
            Some(id("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")),
            "kept"
        );
        let truncate = r#"{"version": "1.0", "eventId": "t-1", "eventType": "agent_state.changed",
          "table": "agent_states", "operation": "TRUNCATE", "timestamp": "2026-11-25T10:45:00Z",
          "before": null, "after": null, "beforeImage": null, "afterImage": null, "keys": {},
          "redactions": {}, "metadata": {"sourceFormat": "debezium", "snapshot": false}}"#;
        board.apply(&Event::from_json(truncate).unwrap());
        assert!(board.agents.is_empty());
        assert_eq!(board.queues.len(), 3);
    }
}
