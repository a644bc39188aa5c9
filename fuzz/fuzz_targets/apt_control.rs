//! deb822 control text (`artifactd_provider_apt::control::Paragraph`), as
//! read from a `.deb`'s control file and a `.dsc`.
//!
//! Beyond not panicking: a parsed paragraph is written back into Packages
//! and Sources indices, so its text must read back as exactly one
//! paragraph with the same fields, or an upload could split a stanza or
//! smuggle in one of its own.
#![no_main]

use artifactd_provider_apt::control::Paragraph;
use libfuzzer_sys::fuzz_target;

fn names(p: &Paragraph) -> Vec<String> {
    p.to_text()
        .lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_owned()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(paragraphs) = Paragraph::parse_all(text) else {
        return;
    };
    for p in &paragraphs {
        let written = p.to_text();
        let again = Paragraph::parse_one(&written)
            .unwrap_or_else(|e| panic!("{written:?} does not read back: {e}"));
        assert_eq!(names(p), names(&again), "{written:?}");
    }
});
