//! A wheel or sdist upload, validated from its bytes
//! (`artifactd_provider_pypi::dist::inspect`): the filename grammar, the
//! zip or tar.gz read end to end, `.dist-info`/`PKG-INFO` and the identity
//! checks. Input: the file name, a newline, the file.
#![no_main]

use artifactd_fuzz::{check, split_filename, spool};
use artifactd_provider_pypi::dist;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((filename, body)) = split_filename(data) else {
        return;
    };
    let file = spool(filename, body);
    if let Some(found) = check(dist::inspect(&file)) {
        assert_eq!(found.kind, dist::Kind::of(filename).expect("a known kind"));
    }
});
