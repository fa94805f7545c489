//! The `trigger` mode: what the generated capture trigger costs a writer.
//!
//! pgbench (from `pg_config --bindir`) commits single-row INSERT transactions into `users` (the
//! example row with a fresh id, columns listed, no JSON on the insert side) with the capture
//! trigger disabled and enabled in turn, `--rounds` times `--seconds` each, the order alternating
//! per round (off/on, on/off, …) so that a change in the machine's load hits both sides alike.
//! Each slice prints its tps, the server's CPU time per insert (the postmaster, its live
//! processes and the backends it reaped: less sensitive to the other engineers' builds than tps)
//! and WAL bytes per insert; the summary gives the medians and the median of the rounds' tps
//! ratios. Then one 10,000-row INSERT statement, trigger off and on, three times.
//!
//! `--durable` restarts the server as production runs it (`fsync=on`, `synchronous_commit=on`,
//! `full_page_writes=on`): every commit waits for its WAL flush, on the machine's real disk.
//! Without it the server runs as the tests' `testkit::Postgres` does (all three off).
//! `--install FILE` installs another `install.sql` (e.g. an older generator's, from
//! `git show <rev>:cdc-capture/sql/generated/install.sql`) instead of the current one.

use crate::{connect, Args};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use testkit::Postgres;

/// The server binaries' directory.
fn bindir() -> Result<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output()?;
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// A server command, as `postgres` when we are root (the server refuses to run as root).
fn server_command(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Restarts testkit's server with `fsync`, `synchronous_commit` and `full_page_writes` on.
fn restart_durable(pg: &Postgres) -> Result<()> {
    let data = pg.data_dir();
    let socket_dir = data.parent().context("the data directory's parent")?;
    let options = format!(
        "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
         -c full_page_writes=on -c track_commit_timestamp=on -c max_connections=100",
        socket_dir.display(),
        pg.port()
    );
    // The server's output goes to the log, so that it does not hold our pipes open.
    let out = server_command(&bindir()?.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(socket_dir.join("server.log"))
        .args(["-m", "fast", "-w", "-t", "60", "-o", &options, "restart"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("pg_ctl restart")?;
    anyhow::ensure!(
        out.status.success(),
        "pg_ctl restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// CPU ticks of `/proc/<pid>/stat` fields 14.. (utime, stime[, cutime, cstime]).
fn ticks(pid: &str, with_children: bool) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start at field 3.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(if with_children { 4 } else { 2 })
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum()
}

/// The server's CPU time so far, in seconds: the postmaster with the children it reaped (the
/// backends of finished connections) and its live children.
fn server_cpu_seconds(pg: &Postgres) -> f64 {
    let pid_file =
        std::fs::read_to_string(pg.data_dir().join("postmaster.pid")).unwrap_or_default();
    let pid = pid_file.lines().next().unwrap_or("0").trim().to_string();
    let mut total = ticks(&pid, true);
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace() {
        total += ticks(child, false);
    }
    total as f64 / 100.0 // USER_HZ is 100 on Linux
}

/// One slice's figures.
struct Slice {
    tps: f64,
    cpu_us: f64,
    wal: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `trigger` mode.
pub async fn trigger_overhead(pg: &Postgres, args: &Args) -> Result<()> {
    if args.durable {
        restart_durable(pg)?;
    }
    let admin = connect(&pg.url()).await?;
    let settings: String = admin
        .query_one(
            "SELECT format('fsync=%s synchronous_commit=%s full_page_writes=%s', \
               current_setting('fsync'), current_setting('synchronous_commit'), \
               current_setting('full_page_writes'))",
            &[],
        )
        .await?
        .get(0);
    println!("server: {settings}; {} client(s)", args.clients);
    admin.batch_execute(cdc_capture::TABLES_SQL).await?;
    let install = match &args.install {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => cdc_capture::INSTALL_SQL.to_string(),
    };
    admin.batch_execute(&install).await?;
    let example = std::fs::read_to_string(
        testkit::workspace_root().join("model-schemas/examples/users.json"),
    )?;
    admin
        .execute(
            "CREATE TABLE bench_template AS SELECT * FROM jsonb_populate_record(NULL::users, $1::text::jsonb)",
            &[&example],
        )
        .await?;
    let columns: String = admin
        .query_one(
            "SELECT string_agg(CASE WHEN attname = 'id' THEN 'gen_random_uuid()' \
               ELSE quote_ident(attname) END, ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .await?
        .get(0);
    let script = std::env::temp_dir().join(format!("cdc-trigger-bench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        format!("INSERT INTO users SELECT {columns} FROM bench_template;\n"),
    )?;
    let pgbench = bindir()?.join("pgbench");
    let set_trigger = |enabled: bool| {
        format!(
            "ALTER TABLE users {} TRIGGER cdc_capture; TRUNCATE users; TRUNCATE cdc.outbox; CHECKPOINT",
            if enabled { "ENABLE" } else { "DISABLE" }
        )
    };
    let mut off = Vec::new();
    let mut on = Vec::new();
    for round in 0..args.rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for enabled in order {
            admin.batch_execute(&set_trigger(enabled)).await?;
            let before: String = admin
                .query_one("SELECT pg_current_wal_lsn()::text", &[])
                .await?
                .get(0);
            let cpu_before = server_cpu_seconds(pg);
            let out = Command::new(&pgbench)
                .args(["-n", "-f"])
                .arg(&script)
                .args(["-c", &args.clients.to_string()])
                .args(["-j", &args.clients.to_string()])
                .args(["-T", &args.seconds.to_string(), "-d", &pg.url()])
                .output()
                .context("running pgbench")?;
            anyhow::ensure!(
                out.status.success(),
                "pgbench: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let tps: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("tps = "))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .context("pgbench printed no tps")?;
            let row = admin
                .query_one(
                    "SELECT (pg_current_wal_lsn() - $1::text::pg_lsn)::float8, (SELECT count(*) FROM users)",
                    &[&before],
                )
                .await?;
            // pgbench's backends have exited (and been reaped) by now.
            let cpu = server_cpu_seconds(pg) - cpu_before;
            let (wal, rows): (f64, i64) = (row.get(0), row.get(1));
            let slice = Slice {
                tps,
                cpu_us: cpu * 1e6 / rows.max(1) as f64,
                wal: wal / rows.max(1) as f64,
            };
            println!(
                "round {round} trigger {}: {:.0} tps, {:.1} µs server CPU per insert, {:.0} WAL bytes per insert",
                if enabled { "on " } else { "off" },
                slice.tps,
                slice.cpu_us,
                slice.wal
            );
            if enabled {
                on.push(slice);
            } else {
                off.push(slice);
            }
        }
    }
    std::fs::remove_file(&script)?;
    let ratios: Vec<f64> = off.iter().zip(&on).map(|(a, b)| b.tps / a.tps).collect();
    let pick = |v: &[Slice], f: fn(&Slice) -> f64| median(v.iter().map(f).collect());
    println!(
        "summary ({settings}, {} client(s), {} rounds of {} s): median tps off {:.0} / on {:.0}; \
         median of the rounds' on/off ratios {:.2} (insert rate {:+.0} %); \
         server CPU per insert off {:.1} / on {:.1} µs; WAL per insert off {:.0} / on {:.0} bytes",
        args.clients,
        args.rounds,
        args.seconds,
        pick(&off, |s| s.tps),
        pick(&on, |s| s.tps),
        median(ratios.clone()),
        (median(ratios) - 1.0) * 100.0,
        pick(&off, |s| s.cpu_us),
        pick(&on, |s| s.cpu_us),
        pick(&off, |s| s.wal),
        pick(&on, |s| s.wal),
    );
    // One statement inserting 10,000 rows, trigger off and on in turn.
    for round in 0..3 {
        for enabled in [false, true] {
            admin.batch_execute(&set_trigger(enabled)).await?;
            let start = Instant::now();
            admin
                .batch_execute(&format!(
                    "INSERT INTO users SELECT {columns} FROM bench_template, generate_series(1, 10000)"
                ))
                .await?;
            println!(
                "round {round} trigger {}: 10,000-row INSERT in {:.0} ms",
                if enabled { "on " } else { "off" },
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}
