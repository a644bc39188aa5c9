//! Services a fault test owns and may break: a small tmpfs it fills, a
//! private MariaDB and a private S3 server it stops and starts again. The
//! shared servers `tests/run` starts are never touched, so other tests keep
//! running while one of these is down. Needs root (CI runs as root) for
//! `mount` and for `mariadbd --user=mysql`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

use crate::free_port;

/// A log file a service appends its output to.
fn append_to(log: &Path) -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap(),
    )
}

async fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tmpfs of a fixed size, unmounted on drop, with a ballast file that
/// takes space away and gives it back.
pub struct Tmpfs {
    pub dir: tempfile::TempDir,
    ballast: PathBuf,
}

impl Tmpfs {
    pub fn mount(size_mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().expect("mount point");
        run(std::process::Command::new("mount").args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size_mib}m,mode=0755"),
            "tmpfs",
            &dir.path().display().to_string(),
        ]));
        let ballast = dir.path().join("ballast");
        Tmpfs { dir, ballast }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes still free on the file system.
    pub fn free(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.path())
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }

    /// Grows the ballast until at most `left` bytes are free (or the disk is
    /// full).
    pub fn leave_free(&self, left: u64) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.ballast)
            .expect("ballast");
        let chunk = vec![0u8; 64 << 10];
        loop {
            let free = self.free();
            if free <= left {
                return;
            }
            let n = ((free - left) as usize).min(chunk.len()).max(4096);
            if f.write_all(&chunk[..n])
                .and_then(|()| f.sync_all())
                .is_err()
            {
                return;
            }
        }
    }

    /// Shrinks the ballast by up to `bytes`.
    pub fn give_back(&self, bytes: u64) {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&self.ballast) {
            let len = f.metadata().map_or(0, |m| m.len());
            let _ = f.set_len(len.saturating_sub(bytes));
        }
    }

    /// Removes the ballast: the space is free again.
    pub fn release(&self) {
        let _ = std::fs::remove_file(&self.ballast);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A MariaDB server of the test's own, in `dir` (which may be a tmpfs).
pub struct MariaDb {
    dir: PathBuf,
    /// Its own temporary directory, off the (maybe small) disk of `dir`:
    /// in the shared /tmp a bootstrap once lost a temporary table while
    /// other tests ran.
    tmp: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl MariaDb {
    /// Initialises a datadir under `dir` and starts the server. InnoDB is
    /// sized for a small disk: 10 MiB of system tablespace grown 1 MiB at a
    /// time, 8 MiB of redo.
    pub async fn start(dir: &Path) -> MariaDb {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let tmp = tempfile::Builder::new()
            .prefix("mariadb-tmp")
            .tempdir()
            .unwrap();
        run(std::process::Command::new("chown")
            .args(["-R", "mysql:mysql"])
            .arg(dir)
            .arg(tmp.path()));
        run(std::process::Command::new("mariadb-install-db")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.path().display()))
            .args(Self::sizing())
            .arg("--auth-root-authentication-method=normal")
            .stdout(Stdio::null()));
        let mut db = MariaDb {
            dir: dir.to_owned(),
            tmp,
            port: free_port(),
            child: None,
        };
        db.resume().await;
        let sql = "CREATE DATABASE artifactd CHARACTER SET utf8mb4; \
                   CREATE USER 'artifactd'@'127.0.0.1' IDENTIFIED BY 'fault'; \
                   GRANT ALL PRIVILEGES ON artifactd.* TO 'artifactd'@'127.0.0.1';";
        run(std::process::Command::new("mariadb")
            .arg(format!("--socket={}", dir.join("sock").display()))
            .args(["-uroot", "-e", sql]));
        db
    }

    fn sizing() -> [&'static str; 7] {
        [
            // InnoDB grows ibdata1 by 64 MiB by default: more than the small
            // disk has even when free, so it would never recover.
            "--innodb-autoextend-increment=1",
            "--innodb-data-file-path=ibdata1:10M:autoextend",
            "--innodb-temp-data-file-path=ibtmp1:4M:autoextend",
            "--innodb-log-file-size=8M",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-method=fsync",
            "--skip-log-bin",
        ]
    }

    pub fn url(&self) -> String {
        format!("mysql://artifactd:fault@127.0.0.1:{}/artifactd", self.port)
    }

    /// Runs `sql` as root in the `artifactd` database.
    pub fn sql(&self, sql: &str) {
        run(std::process::Command::new("mariadb")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .args(["-uroot", "artifactd", "-e", sql]));
    }

    /// Shuts the server down (SIGTERM) and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port and datadir.
    pub async fn resume(&mut self) {
        let log = self.dir.join("mariadb.log");
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--tmpdir={}", self.tmp.path().display()))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .args(Self::sizing())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(append_to(&log))
            .kill_on_drop(true)
            .spawn()
            .expect("mariadbd");
        self.child = Some(child);
        wait_for_port(self.port, "MariaDB", &log).await;
    }
}

/// An s3s-fs server of the test's own, serving one bucket from `dir`.
pub struct S3Server {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

pub const S3_BUCKET: &str = "fault";

impl S3Server {
    pub async fn start(dir: &Path) -> S3Server {
        std::fs::create_dir_all(dir.join("root").join(S3_BUCKET)).unwrap();
        let mut s3 = S3Server {
            dir: dir.to_owned(),
            port: free_port(),
            child: None,
        };
        s3.resume().await;
        s3
    }

    pub fn url(&self) -> String {
        format!(
            "http://faultkey:faultsecret123@127.0.0.1:{}/{S3_BUCKET}",
            self.port
        )
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    pub async fn resume(&mut self) {
        let log = self.dir.join("s3.log");
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", "faultkey", "--secret-key", "faultsecret123"])
            .arg(self.dir.join("root"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(append_to(&log))
            .kill_on_drop(true)
            .spawn()
            .expect("s3s-fs (tests/run puts it on PATH)");
        self.child = Some(child);
        wait_for_port(self.port, "s3s-fs", &log).await;
    }
}
