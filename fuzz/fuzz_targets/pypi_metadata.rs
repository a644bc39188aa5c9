//! Core metadata (`METADATA`, `PKG-INFO`, and the `WHEEL` file's headers):
//! `artifactd_provider_pypi::metadata::{parse_headers, parse}`.
#![no_main]

use artifactd_provider_pypi::metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let headers = metadata::parse_headers(data, "METADATA");
    let parsed = metadata::parse(data, "METADATA");
    if let Ok(md) = parsed {
        let headers = headers.expect("parse accepted what parse_headers refused");
        assert_eq!(md.headers, headers);
        assert!(md.get("Name").is_some() && md.get("Version").is_some());
    }
});
