//! A channel's Release files: the snapshot's, dated when the channel moved.
//!
//! apt keeps the lists it holds when a newly fetched `InRelease` is dated
//! before them (`pkgAcqMetaBase::VerifyVendor`), so a channel serving its
//! snapshot's Release byte for byte could never be rolled back for clients
//! that had read the newer snapshot. A channel's `Release` is its
//! snapshot's with `Date:` set to the move, signed (`InRelease`,
//! `Release.gpg`) with the repository's current keys, which `pubkey` then
//! serves. Every index the Release lists is the snapshot's, unchanged.

use artifactd_provider_api::{ChannelFile, ChannelInput, ProviderError};

use crate::render::{err, rfc2822};

/// The snapshot file a channel's body at `path` is made from.
pub(crate) fn source(path: &str) -> Option<String> {
    if path == "pubkey" {
        return Some(path.to_owned());
    }
    let rest = path.strip_prefix("dists/")?;
    let (dist, file) = rest.split_once('/')?;
    match file {
        "Release" | "InRelease" | "Release.gpg" if !dist.is_empty() => {
            Some(format!("dists/{dist}/Release"))
        }
        _ => None,
    }
}

pub(crate) fn file(input: &ChannelInput<'_>) -> Result<ChannelFile, ProviderError> {
    let signer = input
        .signer
        .ok_or_else(|| err("apt repositories need a signing key"))?;
    let text = |content_type: &str, body: Vec<u8>| ChannelFile {
        content_type: content_type.into(),
        body,
    };
    if input.path == "pubkey" {
        return Ok(text(
            "application/pgp-keys",
            signer.public_keys_armored().map_err(err)?,
        ));
    }
    let release = redate(input.source, &rfc2822(input.moved_at))?;
    Ok(match input.path.rsplit('/').next() {
        Some("InRelease") => text(
            "text/plain; charset=utf-8",
            signer.clearsign(&release).map_err(err)?,
        ),
        Some("Release.gpg") => text(
            "application/pgp-signature",
            signer.detached(&release).map_err(err)?,
        ),
        _ => text("text/plain; charset=utf-8", release),
    })
}

/// `release` with its `Date:` field set to `date`, every other byte kept.
fn redate(release: &[u8], date: &str) -> Result<Vec<u8>, ProviderError> {
    let text = std::str::from_utf8(release).map_err(|_| err("a Release file is not UTF-8"))?;
    let mut out = String::with_capacity(text.len() + 8);
    let mut dated = false;
    for line in text.split_inclusive('\n') {
        if !dated && line.starts_with("Date:") {
            out.push_str("Date: ");
            out.push_str(date);
            out.push('\n');
            dated = true;
        } else {
            out.push_str(line);
        }
    }
    if !dated {
        return Err(err("a Release file has no Date field"));
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::FakeSigner;

    const RELEASE: &str = "Origin: os\nSuite: bookworm\nDate: Thu, 01 Jan 1970 00:00:00 UTC\nAcquire-By-Hash: yes\nSHA256:\n e3b0 0 main/binary-amd64/Packages\n";

    fn make(path: &str, moved_at: i64) -> ChannelFile {
        file(&ChannelInput {
            path,
            source: RELEASE.as_bytes(),
            moved_at,
            signer: Some(&FakeSigner),
        })
        .unwrap()
    }

    #[test]
    fn release_files_and_the_key_are_made_for_a_channel() {
        for (path, from) in [
            ("dists/bookworm/InRelease", Some("dists/bookworm/Release")),
            ("dists/bookworm/Release", Some("dists/bookworm/Release")),
            ("dists/bookworm/Release.gpg", Some("dists/bookworm/Release")),
            ("pubkey", Some("pubkey")),
            ("dists/bookworm/main/binary-amd64/Packages", None),
            ("dists/bookworm/main/Release", None),
            ("dists//InRelease", None),
            ("pool/main/t/tool/tool_1.0_amd64.deb", None),
        ] {
            assert_eq!(source(path).as_deref(), from, "{path}");
        }
    }

    #[test]
    fn a_channel_release_is_the_snapshot_one_dated_at_the_move() {
        let day = 86_400_000;
        let release = make("dists/bookworm/Release", day);
        let text = String::from_utf8(release.body).unwrap();
        assert_eq!(
            text,
            RELEASE.replace(
                "Thu, 01 Jan 1970 00:00:00 UTC",
                "Fri, 02 Jan 1970 00:00:00 UTC"
            )
        );
        let inrelease = make("dists/bookworm/InRelease", day);
        assert_eq!(inrelease.body, format!("SIGNED\n{text}").into_bytes());
        assert_eq!(make("dists/bookworm/Release.gpg", day).body, b"SIG");
        assert_eq!(make("pubkey", day).body, b"KEY");
        assert_eq!(make("pubkey", day).content_type, "application/pgp-keys");
        // The same move makes the same text.
        assert_eq!(
            make("dists/bookworm/Release", day),
            make("dists/bookworm/Release", day)
        );
    }

    #[test]
    fn a_release_without_a_date_is_refused() {
        let r = file(&ChannelInput {
            path: "dists/bookworm/Release",
            source: b"Origin: os\nDates: x\n",
            moved_at: 0,
            signer: Some(&FakeSigner),
        });
        assert!(r.is_err());
    }
}
