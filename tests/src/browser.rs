//! Headless Chromium (Debian's `chromium`, installed by `tests/run`) for
//! the web UI tests: the DOM after the page loaded, and screenshots kept
//! under `$ARTIFACTD_TEST_OUTPUT/ui/`.

use std::path::PathBuf;
use std::time::Duration;

/// Flags for running as root in a sandbox without a display or network.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
];

pub struct Browser {
    binary: PathBuf,
    shots: PathBuf,
}

impl Browser {
    /// `group` names the screenshot folder (e.g. the backend).
    pub fn new(group: &str) -> Browser {
        let binary = std::env::var_os("ARTIFACTD_TEST_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| "chromium".into());
        let out = std::env::var_os("ARTIFACTD_TEST_OUTPUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("artifactd-test-output"));
        let shots = out.join("ui").join(group);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        Browser { binary, shots }
    }

    async fn run(&self, args: &[String]) -> std::process::Output {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let run = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("chromium finished within 60 s");
        run.unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); tests/run installs Debian's chromium",
                self.binary.display()
            )
        })
    }

    /// The page's DOM, serialised after it loaded (scripts, if any, ran).
    pub async fn dom(&self, url: &str) -> String {
        let out = self.run(&["--dump-dom".into(), url.into()]).await;
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && dom.contains("</html>"),
            "chromium --dump-dom {url}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        dom
    }

    /// Saves a PNG of the page as `<name>.png` at `width`x`height` and
    /// returns its path.
    pub async fn screenshot(&self, url: &str, name: &str, width: u32, height: u32) -> PathBuf {
        let file = self.shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        let out = self
            .run(&[
                format!("--screenshot={}", file.display()),
                format!("--window-size={width},{height}"),
                url.into(),
            ])
            .await;
        let png = std::fs::read(&file).unwrap_or_default();
        assert!(
            out.status.success() && png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
            "chromium --screenshot {url}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        file
    }
}

/// The text of every element that opens with `open` (e.g. `<a class="pkg"`),
/// tags inside removed, in document order.
pub fn texts(html: &str, open: &str) -> Vec<String> {
    html.split(open)
        .skip(1)
        .map(|rest| {
            let body = &rest[rest.find('>').map_or(0, |i| i + 1)..];
            let body = &body[..body.find("</").unwrap_or(body.len())];
            unescape(body.trim())
        })
        .collect()
}

/// The few entities HTML serialisers write.
pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The names of the elements in serialised HTML, in order (lowercase).
/// A `<` inside a double-quoted attribute value is not a tag: Chromium's
/// serialiser leaves `<` unescaped there but always escapes it in text.
pub fn tag_names(html: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '<' {
            continue;
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '-' {
                name.push(n.to_ascii_lowercase());
                chars.next();
            } else {
                break;
            }
        }
        if !name.is_empty() {
            names.push(name);
        }
        // Skip to the end of the tag, over quoted attribute values.
        let mut quoted = false;
        for n in chars.by_ref() {
            match n {
                '"' => quoted = !quoted,
                '>' if !quoted => break,
                _ => {}
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_inside_attribute_values_are_not_tags() {
        let html = r#"<p class="a">x &lt;svg&gt;<input value="<svg onload=x>"></p><SVG>"#;
        assert_eq!(super::tag_names(html), ["p", "input", "svg"]);
    }
}
