//! Faults an operator meets: a disk that fills up under the database and
//! the data directory, and a database or object store that goes away for a
//! while. The promises under test: out of space and outages answer at once
//! with 507/503 (never 500, never silence), reads of what is published keep
//! working from memory, the server recovers by itself, and no upload that
//! got a 2xx is ever lost, also across a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use artifactd_tests::apt::make_deb;
use artifactd_tests::services::{MariaDb, S3Server, Tmpfs};
use artifactd_tests::{Backend, Reply, Server, TestEnv, sha256_hex, tar_with};

/// Uploads must be answered within this, whatever state the disk is in.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

const FAST: [(&str, &str); 2] = [
    ("ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS", "1"),
    ("ARTIFACTD_PUBLISH_WAIT_TIMEOUT_SECS", "20"),
];

/// Incompressible bytes, so each upload really takes its size on disk.
fn noise(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

async fn timed_upload(server: &Server, name: &str, archive: Vec<u8>) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = tokio::time::timeout(
        ANSWER_WITHIN,
        server.upload(
            "provider=tar&reponame=full",
            &[(&format!("{name}-1.0.tar"), archive)],
        ),
    )
    .await
    .unwrap_or_else(|_| {
        let log = server.log_text();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!(
            "upload of {name} got no answer within {ANSWER_WITHIN:?}; log ends:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    });
    (reply, started.elapsed())
}

/// `/healthz` says 200 again soon (it reuses a report for a second).
async fn healthy_again(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz").await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "still unhealthy\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until everything committed to `tar/full` is published.
async fn settled(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let repo = server.get_json("/api/v1/repos/tar/full").await;
        if repo["published_seq"] == repo["change_seq"] {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never published everything: {repo}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every acknowledged upload is listed and downloads byte-exact.
async fn all_present(server: &Server, acked: &BTreeMap<String, Vec<u8>>, when: &str) {
    let index = server.get_json("/repo/tar/full/").await;
    for (name, archive) in acked {
        assert!(
            index["packages"].get(name).is_some(),
            "{when}: acknowledged {name} is not listed: {index}"
        );
        let (sha, _) = server
            .download_digest(&format!("/repo/tar/full/{name}/1.0/{name}-1.0.tar"))
            .await;
        assert_eq!(sha, sha256_hex(archive), "{when}: {name} bytes differ");
    }
}

/// Fills the disk under a running server in small steps while uploading,
/// then frees it: checks every answer and what survives.
async fn fill_then_free(env: &TestEnv, disk: &Tmpfs, steps: u64) {
    let server = env.start(&FAST).await;
    let mut acked = BTreeMap::new();
    let seed = tar_with("seed", &noise(8 << 10));
    let (r, _) = timed_upload(&server, "seed", seed.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    acked.insert("seed".to_owned(), seed);

    // Free space stepped down from 1 MiB to nothing over two thirds of the
    // steps (12 KiB a step for 120), and after each
    // refusal a little given back, so the disk stays at the edge of full:
    // uploads of 20 KiB meet it at the spool, the blob, the commit or the
    // publish.
    let mut refused = BTreeMap::<String, u32>::new();
    let mut publish_failures = 0;
    let mut unhealthy = false;
    let mut last_seq = 0;
    let down = (1u64 << 20) / (steps * 2 / 3);
    for step in 0..steps {
        disk.leave_free((1u64 << 20).saturating_sub(step * down));
        let name = format!("p{step}");
        let archive = tar_with(&name, &noise(20 << 10));
        let (r, took) = timed_upload(&server, &name, archive.clone()).await;
        eprintln!(
            "step {step}: {} free {} took {took:?}",
            r.status,
            disk.free()
        );
        match r.status {
            200..=299 => {
                let seq = r.json["publication"]["seq"].as_i64().expect("seq");
                assert!(
                    seq > last_seq,
                    "seq {seq} reused after {last_seq}: {}",
                    r.text
                );
                last_seq = seq;
                if r.json["publication"]["publish_error"].is_object() {
                    publish_failures += 1;
                }
                acked.insert(name, archive);
            }
            507 | 503 => {
                assert!(r.headers.contains_key("retry-after"), "{}", r.text);
                assert!(took < ANSWER_WITHIN, "{took:?}");
                *refused.entry(r.error_code().to_owned()).or_default() += 1;
                // While the store cannot write, health says so.
                if !unhealthy {
                    let h = server
                        .http
                        .get(server.url("/healthz"))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("healthz: {e}\n{}", server.log_text()));
                    unhealthy = h.status() == 503;
                }
                disk.give_back(rand::Rng::gen_range(&mut rand::thread_rng(), 4u64..32) << 10);
            }
            other => panic!(
                "step {step}: {other} {} (free {} bytes)\n{}",
                r.text,
                disk.free(),
                server.log_text()
            ),
        }
    }
    assert!(
        refused.contains_key("insufficient_storage"),
        "the disk never filled: {refused:?}, {} acknowledged",
        acked.len()
    );
    assert!(unhealthy, "/healthz never reported the full disk");
    let log = server.log_text();
    let sites: Vec<(&str, usize)> = [
        "database out of space",
        "storage out of space",
        "out of space",
        "publish failed",
    ]
    .iter()
    .map(|m| (*m, log.matches(m).count()))
    .collect();
    eprintln!(
        "full disk: {} acknowledged ({publish_failures} with a failed publish), refused {refused:?}, where: {sites:?}",
        acked.len()
    );

    // Space comes back: writes work again without a restart.
    disk.release();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let archive = tar_with("after", &noise(1024));
        let (r, _) = timed_upload(&server, "after", archive.clone()).await;
        if (200..300).contains(&r.status) {
            // A 202 was committed (its publish failed): it must show up.
            acked.insert("after".to_owned(), archive);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not recover: {} {}\n{}",
            r.status,
            r.text,
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    healthy_again(&server).await;
    settled(&server).await;
    all_present(&server, &acked, "after freeing space").await;

    // And it was durable: a restart loses nothing, and seqs move on.
    server.stop().await;
    let server = env.start(&FAST).await;
    all_present(&server, &acked, "after a restart").await;
    let (r, _) = timed_upload(&server, "restarted", tar_with("r", b"r")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json["publication"]["seq"].as_i64().unwrap() > last_seq);
}

/// SQLite and the local storage on a 24 MiB tmpfs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_sqlite_local() {
    let disk = Tmpfs::mount(24);
    let logs = tempfile::tempdir().unwrap();
    let env = TestEnv {
        log_dir: Some(logs.path().to_owned()),
        backend: Backend::Embedded,
        database_url: format!("sqlite://{}/meta.db?mode=rwc", disk.path().display()),
        dir: tempfile::tempdir_in(disk.path()).unwrap(),
        s3_url: None,
        s3_prefix: String::new(),
    };
    fill_then_free(&env, &disk, 120).await;
}

/// MariaDB's datadir and the local storage on one small tmpfs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_mariadb_local() {
    let disk = Tmpfs::mount(64);
    std::fs::create_dir_all(disk.path().join("db")).unwrap();
    let db = MariaDb::start(&disk.path().join("db")).await;
    let logs = tempfile::tempdir().unwrap();
    let env = TestEnv {
        log_dir: Some(logs.path().to_owned()),
        backend: Backend::External,
        database_url: db.url(),
        dir: tempfile::tempdir_in(disk.path()).unwrap(),
        s3_url: None,
        s3_prefix: String::new(),
    };
    fill_then_free(&env, &disk, 120).await;
}

/// MariaDB's datadir on a small tmpfs, files on the shared S3: the
/// database is what fills, at commits and at publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_mariadb_s3() {
    let disk = Tmpfs::mount(64);
    std::fs::create_dir_all(disk.path().join("db")).unwrap();
    let db = MariaDb::start(&disk.path().join("db")).await;
    let logs = tempfile::tempdir().unwrap();
    let shared = TestEnv::new(Backend::External).await;
    let env = TestEnv {
        log_dir: Some(logs.path().to_owned()),
        database_url: db.url(),
        ..shared
    };
    fill_then_free(&env, &disk, 120).await;
}

/// Reads of the published state must not notice an outage.
async fn reads_stay_up(server: &Server, paths: &[String], outage: Duration, what: &str) {
    let mut latencies = Vec::new();
    let until = Instant::now() + outage;
    while Instant::now() < until {
        for path in paths {
            let started = Instant::now();
            let resp = server.get(path).await;
            latencies.push(started.elapsed());
            assert_eq!(resp.status(), 200, "{what}: {path}");
            resp.bytes().await.expect("whole body");
        }
    }
    latencies.sort();
    let p95 = latencies[latencies.len() * 95 / 100];
    let max = *latencies.last().unwrap();
    eprintln!(
        "{what}: {} reads, p95 {p95:?}, max {max:?}",
        latencies.len()
    );
    assert!(p95 < Duration::from_millis(100), "{what}: p95 {p95:?}");
    assert!(max < Duration::from_secs(1), "{what}: max {max:?}");
}

/// An upload during an outage: 503 within 5 s, with Retry-After, naming
/// no endpoint.
async fn refused_fast(server: &Server, name: &str, what: &str) {
    let started = Instant::now();
    let r = server
        .upload(
            "provider=tar&reponame=full",
            &[(&format!("{name}-1.0.tar"), tar_with(name, b"x"))],
        )
        .await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{what}: {}", r.text);
    assert!(
        took < Duration::from_secs(6),
        "{what}: answered after {took:?}"
    );
    assert!(r.headers.contains_key("retry-after"), "{what}");
    assert!(!r.text.contains("127.0.0.1"), "{what}: {}", r.text);
    let h = server.get("/healthz").await;
    assert_eq!(h.status(), 503, "{what}: healthz");
}

/// The database, then the object store, stop for a while under a server
/// with a short cache TTL (so it does try to refresh meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_keep_reads_up_and_fail_writes_fast() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("db")).unwrap();
    let mut db = MariaDb::start(&work.path().join("db")).await;
    let mut s3 = S3Server::start(&work.path().join("s3")).await;
    let env = TestEnv {
        backend: Backend::External,
        dir: tempfile::tempdir().unwrap(),
        database_url: db.url(),
        s3_url: Some(s3.url()),
        s3_prefix: "outage/".into(),
        log_dir: None,
    };
    let mut opts = FAST.to_vec();
    opts.push(("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "200"));
    let server = env.start(&opts).await;
    let tar = tar_with("a", b"a");
    let r = server
        .upload("provider=tar&reponame=full", &[("a-1.0.tar", tar.clone())])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let deb = make_deb("hello-outage", "1.0", "amd64", "");
    let r = server
        .upload(
            "provider=apt&reponame=os&dist=bookworm",
            &[("hello-outage_1.0_amd64.deb", deb)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let index_paths: Vec<String> = [
        "/repo/tar/full/",
        "/repo/apt/os/dists/bookworm/InRelease",
        "/repo/apt/os/dists/bookworm/main/binary-amd64/Packages.xz",
    ]
    .map(String::from)
    .to_vec();
    let pool = format!(
        "/repo/{}",
        r.json["packages"][0]["files"][0]["path"]
            .as_str()
            .map(|p| format!("apt/os/{p}"))
            .expect("pool path")
    );
    let mut all = index_paths.clone();
    all.push(pool.clone());
    for p in &all {
        assert_eq!(server.get(p).await.status(), 200, "{p}");
    }

    // The database goes away.
    db.stop().await;
    refused_fast(&server, "during-db-outage", "database down").await;
    reads_stay_up(&server, &all, Duration::from_secs(8), "database down").await;
    db.resume().await;
    recovered(&server, "b").await;
    healthy_again(&server).await;

    // The object store goes away: index files are in memory; package
    // files cannot be read, and say so with 503.
    s3.stop().await;
    refused_fast(&server, "during-s3-outage", "object store down").await;
    reads_stay_up(
        &server,
        &index_paths,
        Duration::from_secs(8),
        "object store down",
    )
    .await;
    let resp = server.get(&pool).await;
    assert_eq!(resp.status(), 503, "a pool file while S3 is down");
    assert!(!resp.text().await.unwrap().contains("127.0.0.1"));
    s3.resume().await;
    recovered(&server, "c").await;
    healthy_again(&server).await;
    assert_eq!(server.get(&pool).await.status(), 200);
    let index = server.get_json("/repo/tar/full/").await;
    for name in ["a", "b", "c"] {
        assert!(index["packages"].get(name).is_some(), "{name}: {index}");
    }
}

/// Uploads work again, without a restart, soon after a dependency returns.
async fn recovered(server: &Server, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = server
            .upload(
                "provider=tar&reponame=full",
                &[(&format!("{name}-1.0.tar"), tar_with(name, name.as_bytes()))],
            )
            .await;
        if r.status == 201 {
            assert!(r.json["publication"]["published"] == true, "{}", r.text);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {} {}\n{}",
            r.status,
            r.text,
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// MySQL DDL is not transactional: a start that died half-way through the
/// migrations leaves tables and indexes without their migration rows. The
/// next start must apply them again over what exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_rerun_after_stopping_half_way() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("db")).unwrap();
    let db = MariaDb::start(&work.path().join("db")).await;
    let env = TestEnv {
        backend: Backend::External,
        dir: tempfile::tempdir().unwrap(),
        database_url: db.url(),
        s3_url: None,
        s3_prefix: String::new(),
        log_dir: None,
    };
    let server = env.start(&[]).await;
    let r = server
        .upload(
            "provider=tar&reponame=m",
            &[("a-1.0.tar", tar_with("a", b"a"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    server.stop().await;
    // Every migration "not recorded", one table of the last one missing.
    db.sql("DELETE FROM seaql_migrations; DROP TABLE health_probes;");
    let server = env.start(&[]).await;
    let r = server
        .upload(
            "provider=tar&reponame=m",
            &[("b-1.0.tar", tar_with("b", b"b"))],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let index = server.get_json("/repo/tar/m/").await;
    for name in ["a", "b"] {
        assert!(index["packages"].get(name).is_some(), "{name}: {index}");
    }
    assert_eq!(server.get("/healthz").await.status(), 200);
}
