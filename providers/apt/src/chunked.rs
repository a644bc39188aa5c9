//! Incremental index files: an index (Packages, Sources, Contents) is the
//! concatenation of chunks, each holding the entries of one range of package
//! ids. A publish re-renders and recompresses only chunks whose members
//! changed, which for uploads is the last one.
//!
//! The compressed forms are joined, not recompressed: gzip members
//! concatenate (apt reads them as one file) and xz blocks are stitched into
//! one stream ([`crate::xzjoin`]). Digests for Release come from hasher
//! states saved after each chunk, so the unchanged prefix is not hashed
//! again either.

use crate::hashes::{Digests, Hashers};
use crate::xzjoin::{self, XzBlock};

/// Package ids per chunk: small enough that recompressing one chunk is
/// cheap, large enough that joining them stays cheap.
pub const CHUNK_IDS: i64 = 64;

/// The xz settings of each block: preset 6 compression with a dictionary no
/// larger than a chunk ever needs (a full-size one costs more to set up than
/// to use).
const XZ_PRESET: u32 = 6;

#[derive(Clone, Default)]
struct Prefix {
    plain: Hashers,
    plain_len: u64,
    gz: Hashers,
    gz_len: u64,
    xz: Hashers,
    xz_len: u64,
}

struct Chunk {
    key: i64,
    fingerprint: u64,
    text: Vec<u8>,
    gz: Vec<u8>,
    xz: Option<XzBlock>,
    /// Digest states after this chunk and all before it.
    after: Prefix,
}

/// One chunk of the new index: its key (`id / CHUNK_IDS`), a fingerprint of
/// its members, and how to render its text if it is not cached.
pub struct ChunkSpec<F> {
    pub key: i64,
    pub fingerprint: u64,
    pub render: F,
}

/// A built index: the compressed files and the digests Release needs.
pub struct Built {
    pub plain_size: u64,
    pub plain: Digests,
    pub gz: Vec<u8>,
    pub gz_digests: Digests,
    pub xz: Vec<u8>,
    pub xz_digests: Digests,
}

#[derive(Default)]
pub struct ChunkedIndex {
    chunks: Vec<Chunk>,
}

fn gzip_member(data: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).map_err(|e| e.to_string())?;
    e.finish().map_err(|e| e.to_string())
}

fn empty_prefix(with_xz: bool) -> Prefix {
    let mut p = Prefix::default();
    if with_xz {
        let header = xzjoin::stream_header();
        p.xz.update(&header);
        p.xz_len = header.len() as u64;
    }
    p
}

impl ChunkedIndex {
    /// Brings the index up to `specs` (in key order) and returns the files.
    pub fn update<F: Fn() -> Vec<u8>>(
        &mut self,
        specs: Vec<ChunkSpec<F>>,
        with_xz: bool,
    ) -> Result<Built, String> {
        let mut old: std::collections::HashMap<i64, Chunk> =
            self.chunks.drain(..).map(|c| (c.key, c)).collect();
        let mut prefix_valid = true;
        let mut prev = empty_prefix(with_xz);
        let mut chunks: Vec<Chunk> = Vec::with_capacity(specs.len());
        for spec in specs {
            let reused = old
                .remove(&spec.key)
                .filter(|c| c.fingerprint == spec.fingerprint);
            // A chunk's saved digest states hold only while everything before
            // it is exactly what it was: same chunks, starting at the same offsets.
            let chunk = match reused {
                Some(c)
                    if prefix_valid
                        && c.starts_at() == (prev.plain_len, prev.gz_len, prev.xz_len) =>
                {
                    c
                }
                Some(c) => {
                    prefix_valid = false;
                    rehash(c, &prev)
                }
                None => {
                    prefix_valid = false;
                    let text = (spec.render)();
                    let gz = if text.is_empty() {
                        Vec::new()
                    } else {
                        gzip_member(&text)?
                    };
                    let xz = if with_xz {
                        xzjoin::compress_block(&text, XZ_PRESET)?
                    } else {
                        None
                    };
                    rehash(
                        Chunk {
                            key: spec.key,
                            fingerprint: spec.fingerprint,
                            text,
                            gz,
                            xz,
                            after: Prefix::default(),
                        },
                        &prev,
                    )
                }
            };
            prev = chunk.after.clone();
            chunks.push(chunk);
        }
        self.chunks = chunks;
        self.build(with_xz)
    }

    fn build(&self, with_xz: bool) -> Result<Built, String> {
        let last = self
            .chunks
            .last()
            .map(|c| c.after.clone())
            .unwrap_or_else(|| empty_prefix(with_xz));
        let mut gz = Vec::with_capacity(last.gz_len as usize);
        for c in &self.chunks {
            gz.extend_from_slice(&c.gz);
        }
        if gz.is_empty() {
            // An empty index is still a valid gzip file.
            gz = gzip_member(b"")?;
        }
        let gz_digests = if self.chunks.iter().all(|c| c.gz.is_empty()) {
            Digests::of_bytes(&gz)
        } else {
            last.gz.clone().finish()
        };
        let (xz, xz_digests) = if with_xz {
            let xz = xzjoin::join(self.chunks.iter().filter_map(|c| c.xz.as_ref()));
            // The saved state covers header and blocks; add index and footer.
            let mut h = last.xz.clone();
            h.update(&xz[last.xz_len as usize..]);
            (xz, h.finish())
        } else {
            (Vec::new(), Digests::of_bytes(b""))
        };
        Ok(Built {
            plain_size: last.plain_len,
            plain: last.plain.finish(),
            gz,
            gz_digests,
            xz,
            xz_digests,
        })
    }
}

impl Chunk {
    /// Where the chunk began in the plain, gzip and xz files.
    fn starts_at(&self) -> (u64, u64, u64) {
        let xz = self.xz.as_ref().map_or(0, |b| b.bytes.len() as u64);
        (
            self.after.plain_len - self.text.len() as u64,
            self.after.gz_len - self.gz.len() as u64,
            self.after.xz_len - xz,
        )
    }
}

/// Recomputes a chunk's saved digest states on top of `prev`.
fn rehash(mut c: Chunk, prev: &Prefix) -> Chunk {
    let mut after = prev.clone();
    after.plain.update(&c.text);
    after.plain_len += c.text.len() as u64;
    after.gz.update(&c.gz);
    after.gz_len += c.gz.len() as u64;
    if let Some(b) = &c.xz {
        after.xz.update(&b.bytes);
        after.xz_len += b.bytes.len() as u64;
    }
    c.after = after;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn specs(chunks: &[(i64, &'static str)]) -> Vec<ChunkSpec<impl Fn() -> Vec<u8>>> {
        chunks
            .iter()
            .map(|&(key, text)| ChunkSpec {
                key,
                fingerprint: text.len() as u64 * 31 + text.bytes().map(u64::from).sum::<u64>(),
                render: move || text.as_bytes().to_vec(),
            })
            .collect()
    }

    fn check(built: &Built, expect: &str) {
        let mut gz = String::new();
        flate2::read::MultiGzDecoder::new(&built.gz[..])
            .read_to_string(&mut gz)
            .unwrap();
        assert_eq!(gz, expect);
        let mut xz = String::new();
        liblzma::read::XzDecoder::new(&built.xz[..])
            .read_to_string(&mut xz)
            .unwrap();
        assert_eq!(xz, expect);
        assert_eq!(built.plain, Digests::of_bytes(expect.as_bytes()));
        assert_eq!(built.plain_size, expect.len() as u64);
        assert_eq!(built.gz_digests, Digests::of_bytes(&built.gz));
        assert_eq!(built.xz_digests, Digests::of_bytes(&built.xz));
    }

    #[test]
    fn appends_changes_and_deletions_give_the_same_files_as_a_fresh_build() {
        let mut idx = ChunkedIndex::default();
        check(
            &idx.update(specs(&[(0, "a\n\n"), (1, "b\n\n")]), true)
                .unwrap(),
            "a\n\nb\n\n",
        );
        // Append to the last chunk, add a new one.
        check(
            &idx.update(
                specs(&[(0, "a\n\n"), (1, "b\n\nc\n\n"), (2, "d\n\n")]),
                true,
            )
            .unwrap(),
            "a\n\nb\n\nc\n\nd\n\n",
        );
        // Change in the middle, then delete the first chunk.
        check(
            &idx.update(
                specs(&[(0, "a\n\n"), (1, "B\n\nc\n\n"), (2, "d\n\n")]),
                true,
            )
            .unwrap(),
            "a\n\nB\n\nc\n\nd\n\n",
        );
        check(
            &idx.update(specs(&[(1, "B\n\nc\n\n"), (2, "d\n\n")]), true)
                .unwrap(),
            "B\n\nc\n\nd\n\n",
        );
        // Everything gone: valid empty files.
        let empty = idx.update(specs(&[]), true).unwrap();
        check(&empty, "");
        let mut fresh = ChunkedIndex::default();
        let a = idx
            .update(specs(&[(5, "x\n\n"), (9, "y\n\n")]), true)
            .unwrap();
        let b = fresh
            .update(specs(&[(5, "x\n\n"), (9, "y\n\n")]), true)
            .unwrap();
        assert_eq!((a.gz, a.xz, a.plain), (b.gz, b.xz, b.plain));
    }
}
