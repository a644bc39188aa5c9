//! Two instances behind one database and one storage area, as behind a load
//! balancer: what one instance acknowledged it serves at once, and killing
//! an instance with SIGKILL over and over loses no acknowledged upload.

use std::io::Read;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use artifactd_tests::apt::make_deb;
use artifactd_tests::pypi::Dist;
use artifactd_tests::rpm::{Spec, rpmbuild};
use artifactd_tests::{ADMIN_TOKEN, Backend, Server, TestEnv, both_backends, sha256_hex, tar_with};
use futures_util::StreamExt;

both_backends!(
    read_your_writes_on_the_instance_that_took_the_upload,
    kill_nine_loop_loses_nothing,
);

/// The last warning and error lines of each server's log, for failure
/// messages.
fn log_excerpt(servers: &[(&str, &Server)]) -> String {
    let mut out = String::new();
    for (label, server) in servers {
        let text = server.log_text();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        out.push_str(&format!(
            "--- instance {label} ({}), {} warning/error lines, last 30:\n",
            server.log.display(),
            lines.len()
        ));
        for l in &lines[lines.len().saturating_sub(30)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// One upload of the read-your-writes test and how to find it in the index.
struct Job {
    format: &'static str,
    query: &'static str,
    file: String,
    bytes: Vec<u8>,
    /// Package name and version (pypi: project; rpm: name).
    name: String,
    version: String,
}

/// Reads the index that lists `job` from `server`; `Err` says what the
/// index held instead.
async fn listed(server: &Server, job: &Job) -> Result<(), String> {
    let get = |path: String| async move {
        let resp = server.get(&path).await;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status != 200 {
            return Err(format!("GET {path}: {status}"));
        }
        Ok(body)
    };
    match job.format {
        "tar" => {
            let body = get("/repo/tar/ryw/".into()).await?;
            let listing: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| format!("listing: {e}"))?;
            let packages = listing["packages"].as_object().cloned().unwrap_or_default();
            let versions = &packages.get(&job.name).cloned().unwrap_or_default()["versions"];
            if versions
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v == job.version.as_str()))
            {
                Ok(())
            } else {
                Err(format!(
                    "/repo/tar/ryw/ lists {} packages, {}: {versions}",
                    packages.len(),
                    job.name
                ))
            }
        }
        "apt" => {
            let path = "/repo/apt/ryw/dists/bookworm/main/binary-amd64/Packages.xz";
            let body = get(path.into()).await?;
            let mut text = String::new();
            liblzma::read::XzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .map_err(|e| format!("{path}: {e}"))?;
            let stanza = format!("Package: {}\nVersion: {}\n", job.name, job.version);
            if text.contains(&stanza) {
                Ok(())
            } else {
                Err(format!(
                    "{path} has {} stanzas, not {}",
                    text.matches("Package: ").count(),
                    job.name
                ))
            }
        }
        "pypi" => {
            let path = format!("/repo/pypi/ryw/simple/{}/", job.name);
            let page = String::from_utf8_lossy(&get(path.clone()).await?).into_owned();
            if page.contains(&job.file) {
                Ok(())
            } else {
                Err(format!(
                    "{path} names {} wheels, not {}",
                    page.matches(".whl#").count(),
                    job.file
                ))
            }
        }
        "rpm" => {
            let base = "/repo/rpm/ryw/el9";
            let repomd = get(format!("{base}/repodata/repomd.xml")).await?;
            let repomd = String::from_utf8_lossy(&repomd).into_owned();
            let href = repomd
                .split("<data type=\"")
                .find(|d| d.starts_with("primary\""))
                .and_then(|d| d.split("<location href=\"").nth(1))
                .and_then(|d| d.split('"').next())
                .ok_or_else(|| format!("no primary in repomd.xml:\n{repomd}"))?;
            let gz = get(format!("{base}/{href}")).await?;
            let mut xml = String::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_string(&mut xml)
                .map_err(|e| format!("{href}: {e}"))?;
            if xml.contains(&format!("<name>{}</name>", job.name))
                && xml.contains(&format!("/{}\"/>", job.file))
            {
                Ok(())
            } else {
                Err(format!(
                    "{href} lists {} packages, not {}",
                    xml.matches("<package ").count(),
                    job.file
                ))
            }
        }
        other => unreachable!("{other}"),
    }
}

/// Concurrent uploads of every format spread over two instances whose
/// cache TTL (60 s) cannot rescue them: every upload the server
/// acknowledged is in the index the same instance serves right after.
async fn read_your_writes_on_the_instance_that_took_the_upload(backend: Backend) {
    const TAR: usize = 40;
    const APT: usize = 30;
    const PYPI: usize = 30;
    const RPM: usize = 8;
    const IN_FLIGHT: usize = 6;

    let env = TestEnv::new(backend).await;
    let opts = [("ARTIFACTD_PUBLISH_CACHE_TTL_MS", "60000")];
    let a = Arc::new(env.start(&opts).await);
    let b = Arc::new(env.start(&opts).await);

    let build = env.dir.path().join("build");
    let rpms = tokio::task::spawn_blocking(move || {
        (0..=RPM)
            .map(|i| {
                let name = format!("rywrpm{i}");
                let path = rpmbuild(&build, &Spec::new(&name, "1.0"), false).remove(0);
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, file, std::fs::read(&path).unwrap())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    // Per format, job 0 seeds the repository; the rest race.
    let mut per_format: Vec<Vec<Job>> = vec![
        (0..=TAR)
            .map(|i| Job {
                format: "tar",
                query: "provider=tar&reponame=ryw",
                file: format!("pkg{i}-1.{i}.tar"),
                bytes: tar_with("f", format!("package {i}").as_bytes()),
                name: format!("pkg{i}"),
                version: format!("1.{i}"),
            })
            .collect(),
        (0..=APT)
            .map(|i| Job {
                format: "apt",
                query: "provider=apt&reponame=ryw&dist=bookworm",
                file: format!("ryw{i}.deb"),
                bytes: make_deb(&format!("ryw{i}"), &format!("1.{i}"), "amd64", ""),
                name: format!("ryw{i}"),
                version: format!("1.{i}"),
            })
            .collect(),
        (0..=PYPI)
            .map(|i| {
                let project = ["ryw-alpha", "ryw-beta", "ryw-gamma"][i % 3];
                let version = format!("1.{i}");
                let dist = Dist {
                    name: project,
                    version: &version,
                    ..Dist::default()
                };
                Job {
                    format: "pypi",
                    query: "provider=pypi&reponame=ryw",
                    file: dist.wheel_name(),
                    bytes: dist.wheel(),
                    name: project.to_owned(),
                    version,
                }
            })
            .collect(),
        rpms.into_iter()
            .map(|(name, file, bytes)| Job {
                format: "rpm",
                query: "provider=rpm&reponame=ryw&dist=el9",
                file,
                bytes,
                name,
                version: "1.0".into(),
            })
            .collect(),
    ];

    // Seed each repository on A, then read it on B, so that B holds a
    // generation that every later upload on A makes stale.
    for jobs in &mut per_format {
        let seed = jobs.remove(0);
        let r = a
            .upload(seed.query, &[(&seed.file, seed.bytes.clone())])
            .await;
        assert_eq!(r.status, 201, "seed {}: {}", seed.file, r.text);
        listed(&b, &seed)
            .await
            .unwrap_or_else(|e| panic!("seed {} on B after A: {e}", seed.file));
    }
    // Interleave the formats; each format alternates between the instances.
    let mut jobs = Vec::new();
    let longest = per_format.iter().map(Vec::len).max().unwrap();
    let mut queues: Vec<_> = per_format.into_iter().map(Vec::into_iter).collect();
    for i in 0..longest {
        for q in &mut queues {
            if let Some(job) = q.next() {
                jobs.push((i % 2, job));
            }
        }
    }
    let total = jobs.len();

    let started = Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let misses = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (which, job) in jobs {
        let server = [a.clone(), b.clone()][which].clone();
        let label = ["A", "B"][which];
        let permit = slots.clone().acquire_owned().await.unwrap();
        let (misses, failures) = (misses.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let r = server
                .upload(job.query, &[(&job.file, job.bytes.clone())])
                .await;
            if !(200..300).contains(&r.status) {
                failures.lock().unwrap().push(format!(
                    "{} {} on {label}: {} {}",
                    job.format, job.file, r.status, r.text
                ));
                return;
            }
            // At once, from the instance that answered.
            let read = listed(&server, &job).await;
            drop(permit);
            if r.status != 201 {
                failures.lock().unwrap().push(format!(
                    "{} {} on {label}: {} (not published or not new) {}",
                    job.format, job.file, r.status, r.text
                ));
            }
            if let Err(saw) = read {
                misses.lock().unwrap().push(format!(
                    "{} {} acknowledged by {label} (publication {}), then {saw}",
                    job.format, job.file, r.json["publication"]
                ));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!(
        "{total} uploads over two instances in {:?}",
        started.elapsed()
    );
    let failures = failures.lock().unwrap();
    let misses = misses.lock().unwrap();
    assert!(
        failures.is_empty() && misses.is_empty(),
        "{} of {total} uploads failed, {} acknowledged uploads were missing from the \
         index of the instance that took them:\n{}\n{}\n{}",
        failures.len(),
        misses.len(),
        failures.join("\n"),
        misses.join("\n"),
        log_excerpt(&[("A", &a), ("B", &b)])
    );
}

/// One acknowledged upload of the kill test.
struct Acked {
    name: String,
    sha256: String,
    status: u16,
}

/// Instance B is killed with SIGKILL and restarted every 2-3 s while four
/// uploaders keep uploading to A and B in turn, retrying a failed attempt on
/// the other instance: every upload that got a 2xx answer is listed by both
/// instances afterwards (the sweep publishes what a dead instance committed)
/// and downloads with its SHA-256 from both.
async fn kill_nine_loop_loses_nothing(backend: Backend) {
    const UPLOADERS: usize = 4;
    const KILLS: usize = 5;
    const ATTEMPTS: usize = 4;
    const QUERY: &str = "provider=tar&reponame=kill";

    let env = TestEnv::new(backend).await;
    let opts = [
        ("ARTIFACTD_PUBLISH_SWEEP_INTERVAL_SECS", "1"),
        // A killed holder of the publish lease blocks publishing this long.
        ("ARTIFACTD_PUBLISH_LEASE_SECS", "2"),
    ];
    let a = Arc::new(env.start(&opts).await);
    let b = Arc::new(RwLock::new(Arc::new(env.start(&opts).await)));
    let seed = a
        .upload(QUERY, &[("seed-1.0.tar", tar_with("s", b"seed"))])
        .await;
    assert_eq!(seed.status, 201, "{}", seed.text);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uploaders: Vec<_> = (0..UPLOADERS)
        .map(|u| {
            let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acked, mut unacked, mut refused) = (Vec::new(), Vec::new(), Vec::new());
                // Attempts cut by a kill, and attempts answered 5xx.
                let mut failed = [0usize; 2];
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let name = format!("k{u}n{n}");
                    let file = format!("{name}-1.0.tar");
                    let archive = tar_with("f", format!("uploader {u} upload {n}").as_bytes());
                    let mut answer = None;
                    for attempt in 0..ATTEMPTS {
                        let server = if (u + n + attempt).is_multiple_of(2) {
                            a.clone()
                        } else {
                            b.read().unwrap().clone()
                        };
                        match server
                            .try_upload_as(Some(ADMIN_TOKEN), QUERY, &[(&file, archive.clone())])
                            .await
                        {
                            Ok(r) if (200..300).contains(&r.status) => {
                                answer = Some(r.status);
                                break;
                            }
                            Ok(r) if r.status >= 500 => failed[1] += 1,
                            Ok(r) => {
                                refused.push(format!("{file}: {} {}", r.status, r.text));
                                break;
                            }
                            Err(_) => failed[0] += 1,
                        }
                        // Not a synchronisation: a client's pause before retrying.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    match answer {
                        Some(status) => acked.push(Acked {
                            name,
                            sha256: sha256_hex(&archive),
                            status,
                        }),
                        None => unacked.push(name),
                    }
                    n += 1;
                }
                (acked, unacked, refused, failed)
            })
        })
        .collect();

    let started = Instant::now();
    let mut dead = Vec::new();
    for _ in 0..KILLS {
        let pause = 2000 + rand::random::<u64>() % 1000;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let victim = b.read().unwrap().clone();
        victim.kill9();
        let fresh = Arc::new(env.start(&opts).await);
        *b.write().unwrap() = fresh;
        dead.push(victim);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut unacked, mut refused, mut failed) =
        (Vec::new(), Vec::new(), Vec::new(), [0, 0]);
    for u in uploaders {
        let (a_, u_, r_, c_) = u.await.unwrap();
        acked.extend(a_);
        unacked.extend(u_);
        refused.extend(r_);
        failed = [failed[0] + c_[0], failed[1] + c_[1]];
    }
    // A final restart: B's view comes from the database alone.
    let victim = b.read().unwrap().clone();
    victim.kill9();
    dead.push(victim);
    let b = Arc::new(env.start(&opts).await);
    eprintln!(
        "{:?}: {} acknowledged ({} of them 200), {} never acknowledged; {} attempts cut, {} answered 5xx",
        started.elapsed(),
        acked.len(),
        acked.iter().filter(|x| x.status == 200).count(),
        unacked.len(),
        failed[0],
        failed[1]
    );
    assert!(
        refused.is_empty(),
        "refused uploads:\n{}",
        refused.join("\n")
    );
    assert!(
        acked.len() >= 40,
        "only {} uploads acknowledged",
        acked.len()
    );

    // Everything acknowledged is listed by both, once the sweep has
    // published what a killed instance committed without publishing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let missing = loop {
        let mut missing = Vec::new();
        for (label, server) in [("A", &a), ("B", &b)] {
            let listing = server.get_json("/repo/tar/kill/").await;
            for x in &acked {
                if listing["packages"][&x.name]["versions"][0] != "1.0" {
                    missing.push(format!("{} (answered {}) on {label}", x.name, x.status));
                }
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            eprintln!("{:?}: {} still missing", started.elapsed(), missing.len());
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if !missing.is_empty() {
        let status = a.get_json("/api/v1/repos/tar/kill").await;
        let mut logs: Vec<(String, &Server)> = vec![("A".into(), &*a), ("B".into(), &*b)];
        logs.extend(
            dead.iter()
                .enumerate()
                .map(|(i, s)| (format!("B killed #{}", i + 1), &**s)),
        );
        let logs: Vec<(&str, &Server)> = logs.iter().map(|(l, s)| (l.as_str(), *s)).collect();
        panic!(
            "{} acknowledged uploads lost after 10 s (repository {status}):\n{}\n{}",
            missing.len(),
            missing.join("\n"),
            log_excerpt(&logs)
        );
    }
    let downloads = [&a, &b]
        .into_iter()
        .flat_map(|server| acked.iter().map(move |x| (server, x)))
        .map(|(server, x)| async move {
            let path = format!("/repo/tar/kill/{0}/1.0/{0}-1.0.tar", x.name);
            let (sha, _) = server.download_digest(&path).await;
            assert_eq!(sha, x.sha256, "{path} from {}", server.url);
        });
    futures_util::stream::iter(downloads)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    eprintln!("{:?}: downloads checked", started.elapsed());
    let status = a.get_json("/api/v1/repos/tar/kill").await;
    assert_eq!(status["published_seq"], status["change_seq"], "{status}");
}
