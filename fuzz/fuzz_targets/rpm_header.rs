//! The lead and both rpm headers, without the digest checks (which a
//! mutated input almost never passes, so the full-package target rarely
//! gets past them): `check_layout`, which bounds every count and offset,
//! then the `rpm` crate's decoding and the fields taken from it, as
//! `artifactd_provider_rpm::header::read` does them.
//!
//! `read` also catches a panic in the `rpm` crate as a refusal; here it is
//! a finding, since the layout check is meant to rule every such input out.
#![no_main]

use std::io::{Cursor, Seek, SeekFrom};

use artifactd_provider_rpm::fuzzing::{check_layout, extract};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Cursor::new(data);
    let Ok((start, end)) = check_layout(&mut r, data.len() as u64) else {
        return;
    };
    assert!(start <= end && end <= data.len() as u64);
    r.seek(SeekFrom::Start(0)).unwrap();
    let Ok(meta) = rpm::PackageMetadata::parse(&mut r) else {
        return;
    };
    let offsets = meta.get_package_segment_offsets();
    if offsets.header != start || offsets.payload != end {
        return;
    }
    let _ = extract(&meta, start, end);
});
