//! A whole `.rpm` upload (`artifactd_provider_rpm::header::read` through
//! `RpmProvider::ingest`): lead, both headers, sizes and digests, and the
//! fields the repository metadata needs.
#![no_main]

use artifactd_fuzz::{check, ingest, spool};
use artifactd_provider_rpm::RpmProvider;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = spool("fuzz.rpm", data);
    check(ingest(&RpmProvider::default(), &[("dist", "el9")], &file));
});
