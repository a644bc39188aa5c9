//! A `.deb` upload: the `ar` container, `debian-binary`, `control.tar.*`,
//! `data.tar.*` (`artifactd_provider_apt::deb::read`) and the control checks
//! `AptProvider::ingest` makes on what it found.
#![no_main]

use artifactd_fuzz::{check, ingest, spool};
use artifactd_provider_apt::AptProvider;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = spool("fuzz.deb", data);
    check(ingest(
        &AptProvider::default(),
        &[("dist", "bookworm")],
        &file,
    ));
});
