//! The `cdc-relay` binary against a real PostgreSQL and moto Kinesis: configured from the
//! environment, it drains the outbox, writes EMF metrics lines, survives SIGKILL mid-flight (the
//! next process resends what was not deleted) and stops cleanly on SIGTERM.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{Moto, Postgres};

const STREAM: &str = "coredb-changes";

fn relay(pg: &Postgres, moto: &Moto) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cdc-relay"))
        .env("CDC_RELAY_DATABASE_URL", pg.url())
        .env("CDC_RELAY_STREAM", STREAM)
        .env("CDC_RELAY_BATCH", "600")
        .env("CDC_RELAY_METRICS_INTERVAL_S", "1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cdc-relay starts")
}

async fn depth(db: &tokio_postgres::Client) -> i64 {
    cdc_capture::outbox::depth(db).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_drains_survives_sigkill_and_stops_on_sigterm() {
    let pg = Postgres::start();
    let moto = Moto::start();
    let kinesis = aws_sdk_kinesis::Client::new(&moto.sdk_config().await);
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let (db, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute(cdc_capture::TABLES_SQL).await.unwrap();
    db.batch_execute(cdc_capture::INSTALL_SQL).await.unwrap();
    // 3,000 users: several rounds of 500.
    crate::relay::insert_users(&db, 3000).await;
    let keys: HashSet<String> = db
        .query("SELECT partition_key FROM cdc.outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys.len(), 3000);

    // SIGKILL once some but not all rows were relayed.
    let mut first = relay(&pg, &moto);
    let start = Instant::now();
    while depth(&db).await == 3000 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the relay makes progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let left = depth(&db).await;

    let second = relay(&pg, &moto);
    let start = Instant::now();
    while depth(&db).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the outbox drains (left {left})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = second.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SIGTERM exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let emf: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds EMF lines only"))
        .collect();
    assert!(!emf.is_empty(), "metrics lines");
    assert_eq!(emf.last().unwrap()["OutboxDepth"], 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON logs");
        assert!(!line.contains("Priya"), "no column values in logs: {v}");
    }

    // Every row arrived at least once.
    let records = crate::relay::stream_records(&kinesis, STREAM).await;
    let got: HashSet<String> = records.iter().map(|(key, _)| key.clone()).collect();
    let total = records.len();
    assert_eq!(got, keys, "no loss across a SIGKILL");
    assert!(total >= 3000);
}

/// `cdc-relay snapshot --table T` writes one SNAPSHOT record per row and exits 0; an unknown
/// table exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_command_writes_snapshot_records() {
    let pg = Postgres::start();
    let (db, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute(cdc_capture::TABLES_SQL).await.unwrap();
    // Rows that exist before capture is installed: what a backfill is for.
    crate::relay::insert_users(&db, 25).await;
    db.batch_execute(cdc_capture::INSTALL_SQL).await.unwrap();
    let run = |table: &str| {
        Command::new(env!("CARGO_BIN_EXE_cdc-relay"))
            .env("CDC_RELAY_DATABASE_URL", pg.url())
            .env("CDC_RELAY_STREAM", STREAM)
            .args(["snapshot", "--table", table])
            .output()
            .unwrap()
    };
    let out = run("users");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = cdc_capture::outbox::fetch(&db, 1000, false).await.unwrap();
    assert_eq!(rows.len(), 25);
    for r in &rows {
        let v: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
        assert_eq!(v["operation"], "SNAPSHOT");
        assert_eq!(
            v["after"]["id"].as_str().map(|id| format!("users:{id}")),
            Some(r.partition_key.clone())
        );
    }
    assert!(!run("no_such_table").status.success());
}

/// `cdc-relay` reads `.env` in its working directory like the other binaries: a variable only in
/// the file is used, one set in the environment wins over the file, and a malformed line is
/// reported by its position without its contents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_dot_env_and_the_environment_wins() {
    let pg = Postgres::start();
    let (db, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute(cdc_capture::TABLES_SQL).await.unwrap();
    db.batch_execute(cdc_capture::INSTALL_SQL).await.unwrap();
    db.batch_execute(
        "INSERT INTO users SELECT (jsonb_populate_record(NULL::users, \
           jsonb_set(u, '{id}', to_jsonb(gen_random_uuid()::text)))).* \
         FROM (SELECT jsonb_build_object('tenant_id', gen_random_uuid(), 'name', 'n', 'email', 'e', \
           'status', 'active', 'locale', 'en', 'time_zone', 'UTC', 'mfa_enabled', true, \
           'created_at', now(), 'updated_at', now()) AS u) s, generate_series(1, 2); \
         TRUNCATE cdc.outbox",
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("cdc-relay-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |dotenv: &str, database_url: Option<&str>| {
        std::fs::write(dir.join(".env"), dotenv).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_cdc-relay"));
        c.current_dir(&dir)
            .env_remove("CDC_RELAY_DATABASE_URL")
            .env_remove("CDC_RELAY_STREAM")
            .args(["snapshot", "--table", "users"]);
        if let Some(url) = database_url {
            c.env("CDC_RELAY_DATABASE_URL", url);
        }
        c.output().unwrap()
    };
    // Only in the file: used.
    let out = run(
        &format!(
            "CDC_RELAY_DATABASE_URL='{}'\nCDC_RELAY_STREAM=s\n",
            pg.url()
        ),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The environment wins over a file that names a server nobody listens on.
    let dead = format!(
        "CDC_RELAY_DATABASE_URL='host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=2'\nCDC_RELAY_STREAM=s\n",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let out = run(&dead, Some(&pg.url()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the environment the file's dead server is used, and fails.
    let out = run(&dead, None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CDC_RELAY_DATABASE_URL"), "{stderr}");
    // A malformed line: its position, not its contents; the variable stays unset.
    let out = run("CDC_RELAY_STREAM=s\nsecret-value-x y z\n", Some(&pg.url()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".env: cannot parse it at character"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-value"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM cdc.outbox WHERE payload->>'operation' = 'SNAPSHOT'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 6, "three runs that reached the database, two rows each");
    let _ = std::fs::remove_dir_all(&dir);
}
