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
//!
//! The compressed files are handed to the server as parts
//! ([`IndexBody::Parts`](artifactd_provider_api::IndexBody::Parts)), one per
//! group of [`GROUP_CHUNKS`] chunks by key, except that the last chunk is a
//! part of its own, so a publish stores only the group that changed (for an
//! upload: the last chunk, and the small xz index), whatever the size of
//! the index. Groups bound the part list an index set records: a part per chunk
//! would make that list, rewritten at every publish, the larger cost.

use std::collections::HashMap;
use std::sync::Arc;

use artifactd_provider_api::Part;

use crate::hashes::{Digests, Hashers};
use crate::xzjoin;

/// Package ids per chunk: small enough that recompressing one chunk is
/// cheap, large enough that joining them stays cheap.
pub const CHUNK_IDS: i64 = 64;

/// Chunks per part (by key, so a group's members stay put as others
/// change): one upload rewrites a part of at most this many chunks.
pub const GROUP_CHUNKS: i64 = 8;

/// The xz settings of each block: preset 6 compression with a dictionary no
/// larger than a chunk ever needs (a full-size one costs more to set up than
/// to use).
const XZ_PRESET: u32 = 6;

/// The last chunk, the one uploads keep changing, is compressed with this
/// preset instead: a third of the time for a slightly larger block, and it
/// is recompressed at [`XZ_PRESET`] once a later chunk follows it.
const XZ_PRESET_LAST: u32 = 0;

#[derive(Clone, Default)]
struct Prefix {
    plain: Hashers,
    plain_len: u64,
    gz: Hashers,
    gz_len: u64,
    xz: Hashers,
    xz_len: u64,
}

/// Bytes inside a shared buffer: a chunk's compressed form, alone until
/// its group's part is built, then a slice of that part (held once).
#[derive(Clone)]
struct Slice {
    buf: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl Slice {
    fn new(bytes: Vec<u8>) -> Slice {
        let end = bytes.len();
        Slice {
            buf: bytes.into(),
            start: 0,
            end,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn len(&self) -> usize {
        self.end - self.start
    }
}

struct XzChunk {
    /// Block header, compressed data, padding and check.
    bytes: Slice,
    unpadded_size: u64,
    uncompressed_size: u64,
}

struct Chunk {
    key: i64,
    fingerprint: u64,
    /// Length of the chunk's text. The text itself is not kept: a chunk
    /// whose offsets moved is rehashed from its gzip member.
    text_len: u64,
    /// Empty when the text is.
    gz: Slice,
    xz: Option<XzChunk>,
    /// Whether `xz` was compressed as the last chunk ([`XZ_PRESET_LAST`]).
    xz_last: bool,
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

/// A built index: the compressed files as parts, and the digests Release
/// needs.
pub struct Built {
    pub plain_size: u64,
    pub plain: Digests,
    pub gz: Vec<Part>,
    pub gz_digests: Digests,
    /// Empty without xz.
    pub xz: Vec<Part>,
    pub xz_digests: Digests,
}

/// The parts of one run of chunks as last built (a group, or the last
/// group without its last chunk, or that chunk), and the chunks they hold
/// (key, fingerprint, and whether the xz block was the last chunk's).
struct Group {
    members: Vec<(i64, u64, bool)>,
    gz: Option<Part>,
    xz: Option<Part>,
}

#[derive(Default)]
pub struct ChunkedIndex {
    chunks: Vec<Chunk>,
    /// By the key of the run's first chunk.
    groups: HashMap<i64, Group>,
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

/// One part holding `slices` in order (none when they are all empty),
/// re-pointing each slice into it so the bytes are held once.
fn join_part<'a>(slices: impl Iterator<Item = &'a mut Slice>) -> Option<Part> {
    let mut slices: Vec<&mut Slice> = slices.filter(|s| s.len() > 0).collect();
    if slices.is_empty() {
        return None;
    }
    let mut bytes = Vec::with_capacity(slices.iter().map(|s| s.len()).sum());
    for s in &slices {
        bytes.extend_from_slice(s.bytes());
    }
    let part = Part::new(bytes);
    let mut at = 0;
    for s in &mut slices {
        let len = s.len();
        **s = Slice {
            buf: part.bytes.clone(),
            start: at,
            end: at + len,
        };
        at += len;
    }
    Some(part)
}

impl ChunkedIndex {
    /// Brings the index up to `specs` (in key order) and returns the files.
    pub fn update<F: Fn() -> Vec<u8>>(
        &mut self,
        specs: Vec<ChunkSpec<F>>,
        with_xz: bool,
    ) -> Result<Built, String> {
        let mut old: HashMap<i64, Chunk> = self.chunks.drain(..).map(|c| (c.key, c)).collect();
        let mut prefix_valid = true;
        let mut prev = empty_prefix(with_xz);
        let mut chunks: Vec<Chunk> = Vec::with_capacity(specs.len());
        let count = specs.len();
        for (i, spec) in specs.into_iter().enumerate() {
            let is_last = with_xz && i + 1 == count;
            let reused = old
                .remove(&spec.key)
                .filter(|c| c.fingerprint == spec.fingerprint && c.xz_last == is_last);
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
                    let text = c.text()?;
                    rehash(c, &prev, &text)
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
                        let preset = if is_last { XZ_PRESET_LAST } else { XZ_PRESET };
                        xzjoin::compress_block(&text, preset)?.map(|b| XzChunk {
                            bytes: Slice::new(b.bytes),
                            unpadded_size: b.unpadded_size,
                            uncompressed_size: b.uncompressed_size,
                        })
                    } else {
                        None
                    };
                    let chunk = Chunk {
                        key: spec.key,
                        fingerprint: spec.fingerprint,
                        text_len: text.len() as u64,
                        gz: Slice::new(gz),
                        xz,
                        xz_last: is_last,
                        after: Prefix::default(),
                    };
                    rehash(chunk, &prev, &text)
                }
            };
            prev = chunk.after.clone();
            chunks.push(chunk);
        }
        self.chunks = chunks;
        self.build(with_xz)
    }

    fn build(&mut self, with_xz: bool) -> Result<Built, String> {
        let last = self
            .chunks
            .last()
            .map(|c| c.after.clone())
            .unwrap_or_else(|| empty_prefix(with_xz));
        let mut old = std::mem::take(&mut self.groups);
        let mut gz = Vec::new();
        let mut xz_blocks = Vec::new();
        let mut start = 0;
        while start < self.chunks.len() {
            let group = self.chunks[start].key.div_euclid(GROUP_CHUNKS);
            let len = self.chunks[start..]
                .iter()
                .take_while(|c| c.key.div_euclid(GROUP_CHUNKS) == group)
                .count();
            // The last chunk, the one uploads change, is a part of its own:
            // an upload then rewrites one chunk, not its whole group.
            let len = match start + len == self.chunks.len() && len > 1 {
                true => len - 1,
                false => len,
            };
            let run = self.chunks[start].key;
            let members = &mut self.chunks[start..start + len];
            start += len;
            let ids: Vec<(i64, u64, bool)> = members
                .iter()
                .map(|c| (c.key, c.fingerprint, c.xz_last))
                .collect();
            let built = match old.remove(&run) {
                Some(g) if g.members == ids => g,
                _ => Group {
                    gz: join_part(members.iter_mut().map(|c| &mut c.gz)),
                    xz: join_part(
                        members
                            .iter_mut()
                            .filter_map(|c| c.xz.as_mut().map(|x| &mut x.bytes)),
                    ),
                    members: ids,
                },
            };
            gz.extend(built.gz.clone());
            xz_blocks.extend(built.xz.clone());
            self.groups.insert(run, built);
        }
        let gz_digests = if gz.is_empty() {
            // An empty index is still a valid gzip file.
            let empty = gzip_member(b"")?;
            let digests = Digests::of_bytes(&empty);
            gz.push(Part::new(empty));
            digests
        } else {
            last.gz.clone().finish()
        };
        let (xz, xz_digests) = if with_xz {
            let tail = xzjoin::stream_tail(
                self.chunks
                    .iter()
                    .filter_map(|c| c.xz.as_ref())
                    .map(|x| (x.unpadded_size, x.uncompressed_size)),
            );
            // The saved state covers header and blocks; add index and footer.
            let mut h = last.xz.clone();
            h.update(&tail);
            let mut parts = vec![Part::new(xzjoin::stream_header())];
            parts.extend(xz_blocks);
            parts.push(Part::new(tail));
            (parts, h.finish())
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
            self.after.plain_len - self.text_len,
            self.after.gz_len - self.gz.len() as u64,
            self.after.xz_len - xz,
        )
    }
}

impl Chunk {
    /// The chunk's text, from its gzip member.
    fn text(&self) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let mut text = Vec::with_capacity(self.text_len as usize);
        if self.gz.len() > 0 {
            flate2::read::MultiGzDecoder::new(self.gz.bytes())
                .read_to_end(&mut text)
                .map_err(|e| e.to_string())?;
        }
        Ok(text)
    }
}

/// Recomputes a chunk's saved digest states on top of `prev`; `text` is
/// the chunk's text.
fn rehash(mut c: Chunk, prev: &Prefix, text: &[u8]) -> Chunk {
    let mut after = prev.clone();
    after.plain.update(text);
    after.plain_len += text.len() as u64;
    after.gz.update(c.gz.bytes());
    after.gz_len += c.gz.len() as u64;
    if let Some(b) = &c.xz {
        after.xz.update(b.bytes.bytes());
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

    fn joined(parts: &[Part]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.bytes.iter().copied()).collect()
    }

    fn check(built: &Built, expect: &str) {
        let (gz_file, xz_file) = (joined(&built.gz), joined(&built.xz));
        let mut gz = String::new();
        flate2::read::MultiGzDecoder::new(&gz_file[..])
            .read_to_string(&mut gz)
            .unwrap();
        assert_eq!(gz, expect);
        let mut xz = String::new();
        liblzma::read::XzDecoder::new(&xz_file[..])
            .read_to_string(&mut xz)
            .unwrap();
        assert_eq!(xz, expect);
        assert_eq!(built.plain, Digests::of_bytes(expect.as_bytes()));
        assert_eq!(built.plain_size, expect.len() as u64);
        assert_eq!(built.gz_digests, Digests::of_bytes(&gz_file));
        assert_eq!(built.xz_digests, Digests::of_bytes(&xz_file));
        for p in built.gz.iter().chain(&built.xz) {
            assert_eq!(
                p,
                &Part::new(p.bytes.to_vec()),
                "a part's hash is its bytes'"
            );
        }
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

    /// The last chunk is compressed faster, and again normally once another
    /// follows it, also when that one starts a new group.
    #[test]
    fn the_last_chunk_is_recompressed_when_another_follows() {
        let texts: Vec<String> = (0..=GROUP_CHUNKS)
            .map(|k| {
                // Varied enough that the two presets compress it differently.
                let words: String = (0..300u64)
                    .map(|i| format!("w{} ", (i * 7919 + k as u64 * 104_729) % 1000))
                    .collect();
                format!("Package: p{k}\nDescription: {words}\n\n")
            })
            .collect();
        let leak = |t: &String| -> &'static str { Box::leak(t.clone().into_boxed_str()) };
        let all: Vec<(i64, &'static str)> = texts
            .iter()
            .enumerate()
            .map(|(k, t)| (k as i64, leak(t)))
            .collect();
        let mut idx = ChunkedIndex::default();
        for n in 1..=all.len() {
            let built = idx.update(specs(&all[..n]), true).unwrap();
            check(&built, &texts[..n].concat());
            let fresh = ChunkedIndex::default()
                .update(specs(&all[..n]), true)
                .unwrap();
            assert_eq!(built.xz, fresh.xz, "{n} chunks");
        }
    }

    /// A change in one chunk gives new parts for its group only (and the xz
    /// index); every other part is the one the last build gave.
    #[test]
    fn a_change_rewrites_only_its_groups_part() {
        let texts: Vec<String> = (0..40).map(|k| format!("Package: p{k}\n\n")).collect();
        let leak = |t: &String| -> &'static str { Box::leak(t.clone().into_boxed_str()) };
        let all: Vec<(i64, &'static str)> = texts
            .iter()
            .enumerate()
            .map(|(k, t)| (k as i64, leak(t)))
            .collect();
        let mut idx = ChunkedIndex::default();
        let before = idx.update(specs(&all), true).unwrap();
        // Five groups, the last one's last chunk apart.
        assert_eq!(before.gz.len(), 40 / GROUP_CHUNKS as usize + 1);
        let mut changed = all.clone();
        changed[19].1 = "Package: changed\n\n";
        let after = idx.update(specs(&changed), true).unwrap();
        let expect: String = changed.iter().map(|(_, t)| *t).collect();
        check(&after, &expect);
        let differs = |a: &[Part], b: &[Part]| -> Vec<usize> {
            (0..a.len()).filter(|&i| a[i] != b[i]).collect()
        };
        assert_eq!(
            differs(&before.gz, &after.gz),
            vec![19 / GROUP_CHUNKS as usize]
        );
        // Unchanged groups are not even joined again.
        assert!(Arc::ptr_eq(&before.gz[4].bytes, &after.gz[4].bytes));
        assert!(Arc::ptr_eq(&before.xz[1].bytes, &after.xz[1].bytes));
        // Header, six parts, tail: group 2 and the tail changed.
        assert_eq!(differs(&before.xz, &after.xz), vec![3, 7]);
        let mut fresh = ChunkedIndex::default();
        let again = fresh.update(specs(&changed), true).unwrap();
        assert_eq!((again.gz, again.xz), (after.gz.clone(), after.xz.clone()));
        // What uploads do, growing the last chunk: only its part changes.
        let mut grown = changed.clone();
        grown[39].1 = "Package: p39\n\nPackage: p39b\n\n";
        let last = idx.update(specs(&grown), true).unwrap();
        assert_eq!(differs(&after.gz, &last.gz), vec![5]);
        assert_eq!(differs(&after.xz, &last.xz), vec![6, 7]);
    }
}
