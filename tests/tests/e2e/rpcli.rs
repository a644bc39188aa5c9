//! The rpcli binary against a real server.

use artifactd_tests::{Backend, TestEnv, both_backends, tar_with};

both_backends!(rpcli_health_and_repos);

fn rpcli() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|d| d.parent()).unwrap().join("rpcli")
}

async fn rpcli_health_and_repos(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let server = env.start(&[]).await;
    assert_eq!(
        server
            .upload(
                "provider=tar&reponame=cli",
                &[("x-1.0.tar", tar_with("x", b"x"))]
            )
            .await
            .status,
        201
    );
    let run = |args: &[&str]| {
        std::process::Command::new(rpcli())
            .args(["-s", &server.url])
            .args(args)
            .env_remove("RPCLI_SERVER")
            .output()
            .expect("run rpcli")
    };
    let out = run(&["health"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    let out = run(&["repos"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "tar/cli\tgeneration 1"
    );
    let out = run(&["repos", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["repos"][0]["name"], "cli");
    // A server that is not there: a clear message and a non-zero exit, no panic.
    let out = std::process::Command::new(rpcli())
        .args(["-s", "http://127.0.0.1:9", "health"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("rpcli: cannot reach"),
        "{out:?}"
    );
}
