//! Helpers shared by the fuzz targets: the providers read uploads from a
//! local file, so each input is written to one anonymous temporary file per
//! process (unlinked from the start, so nothing is left behind) and handed
//! over by its `/proc/self/fd` path.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::OnceLock;

use artifactd_provider_api::{
    NewPackage, Provider, ProviderError, RepoInfo, UploadContext, UploadedFile,
};

thread_local! {
    static SPOOL: RefCell<Option<File>> = const { RefCell::new(None) };
}

/// Writes `data` to this process's spool file and describes it as the
/// upload `filename`. The file is rewritten by the next call.
pub fn spool(filename: &str, data: &[u8]) -> UploadedFile {
    SPOOL.with(|cell| {
        let mut cell = cell.borrow_mut();
        // In memory where there is a tmpfs: a disk file costs four times the
        // executions per second.
        let file = cell.get_or_insert_with(|| {
            tempfile::tempfile_in("/dev/shm")
                .or_else(|_| tempfile::tempfile())
                .expect("a temporary file")
        });
        file.set_len(0).expect("truncate the spool file");
        file.seek(SeekFrom::Start(0))
            .expect("rewind the spool file");
        file.write_all(data).expect("write the spool file");
        UploadedFile {
            filename: filename.to_owned(),
            path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
            size: data.len() as u64,
            // Only compared with a client-declared digest, which we never give.
            sha256: "0".repeat(64),
        }
    })
}

/// Splits an input into a file name (its first line, at most 200 bytes of
/// UTF-8) and the file's bytes. Seeds are written the same way, so the
/// fuzzer keeps names that pass the providers' name checks.
pub fn split_filename(data: &[u8]) -> Option<(&str, &[u8])> {
    let nl = data.iter().take(201).position(|&b| b == b'\n')?;
    let name = std::str::from_utf8(&data[..nl]).ok()?;
    Some((name, &data[nl + 1..]))
}

/// Runs `provider.ingest` on one upload with the given provider parameters.
pub fn ingest(
    provider: &dyn Provider,
    params: &[(&str, &str)],
    file: &UploadedFile,
) -> Result<Vec<NewPackage>, ProviderError> {
    let repo = RepoInfo {
        id: 1,
        provider: provider.name().to_owned(),
        name: "fuzz".to_owned(),
        settings: serde_json::Value::Null,
    };
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let ctx = UploadContext {
        repo: &repo,
        name: None,
        version: None,
        params: &params,
    };
    provider.ingest(&ctx, std::slice::from_ref(file))
}

/// The oracle for a whole upload: it is accepted or refused as the client's
/// fault. An I/O or render error for bytes the client sent would be a 500
/// for bad input, so it counts as a finding.
///
/// With `ARTIFACTD_FUZZ_VERBOSE=1` it prints each verdict, to see how far
/// seeds get: `cargo fuzz run TARGET fuzz/seeds/TARGET -- -runs=0`.
pub fn check<T>(result: Result<T, ProviderError>) -> Option<T> {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    let verbose = *VERBOSE.get_or_init(|| std::env::var_os("ARTIFACTD_FUZZ_VERBOSE").is_some());
    match result {
        Ok(v) => {
            if verbose {
                eprintln!("accepted");
            }
            Some(v)
        }
        Err(ProviderError::Invalid { code, message }) => {
            if verbose {
                eprintln!("refused ({code}): {message}");
            }
            None
        }
        Err(e) => panic!("bad input answered as a server error: {e}"),
    }
}
