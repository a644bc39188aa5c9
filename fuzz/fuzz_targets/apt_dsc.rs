//! A `.dsc` upload: clearsign stripping and the deb822 paragraph with its
//! file lists (`artifactd_provider_apt::dsc::parse`), then the name and
//! version checks of `AptProvider::ingest` on what it accepts (which then
//! refuses the upload for lacking the files it lists).
#![no_main]

use artifactd_fuzz::{check, ingest, spool};
use artifactd_provider_apt::AptProvider;
use artifactd_provider_apt::dsc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // What dsc::parse refuses, ingest refuses the same way; only what it
    // accepts is worth the detour through a file.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if dsc::parse(text).is_err() {
        return;
    }
    let file = spool("fuzz.dsc", data);
    check(ingest(
        &AptProvider::default(),
        &[("dist", "bookworm")],
        &file,
    ));
});
