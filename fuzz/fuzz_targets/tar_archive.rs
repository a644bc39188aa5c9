//! A generic archive upload (`TarProvider::ingest`): tar in every
//! compression it accepts, and zip, read end to end. Input: the file name
//! (its suffix picks the format), a newline, the file.
#![no_main]

use artifactd_fuzz::{check, ingest, split_filename, spool};
use artifactd_provider_tar::TarProvider;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((filename, body)) = split_filename(data) else {
        return;
    };
    // A smaller unpack limit than the server's 1 GiB floor, so a
    // decompression bomb is refused in well under the run's time-out; the
    // code path is the same.
    let provider = TarProvider {
        unpack_floor: 16 << 20,
        unpack_ratio: 100,
    };
    let file = spool(filename, body);
    check(ingest(&provider, &[], &file));
});
