//! One `.xz` stream made of independently compressed blocks.
//!
//! apt reads only the first of several concatenated xz *streams*, but reads
//! every block of one stream. So each chunk of an index is compressed alone
//! (as a one-block stream, cached), and a publish stitches the cached blocks
//! into a single stream: the common stream header, every block, then a new
//! index listing the blocks and a new footer (xz file format 1.0.4, §2-4).
//! The joining itself is the server's: the provider hands it header, blocks
//! and tail as parts ([`crate::chunked`]).

use std::io::Write;

/// A chunk compressed as one xz block, ready to be joined.
#[derive(Debug, Clone)]
pub struct XzBlock {
    /// Block header, compressed data, padding and check.
    pub bytes: Vec<u8>,
    pub unpadded_size: u64,
    pub uncompressed_size: u64,
}

const HEADER_LEN: usize = 12;
const FOOTER_LEN: usize = 12;
/// Stream flags for a CRC64 check, as liblzma writes by default.
const STREAM_FLAGS: [u8; 2] = [0x00, 0x04];

fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *data.get(*pos).ok_or("truncated xz index")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("bad varint in xz index".into())
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Compresses `data` as a single xz block (empty data gives no block).
pub fn compress_block(data: &[u8], preset: u32) -> Result<Option<XzBlock>, String> {
    if data.is_empty() {
        return Ok(None);
    }
    // The preset's dictionary (8 MiB at 6) costs more to set up than a
    // chunk needs; one as large as the data compresses the same.
    let mut options =
        liblzma::stream::LzmaOptions::new_preset(preset).map_err(|e| e.to_string())?;
    let dict = (data.len() as u32).next_power_of_two().clamp(4096, 1 << 26);
    options.dict_size(dict);
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&options);
    let stream =
        liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc64)
            .map_err(|e| e.to_string())?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(data).map_err(|e| e.to_string())?;
    let xz = enc.finish().map_err(|e| e.to_string())?;
    if xz.len() < HEADER_LEN + FOOTER_LEN || xz[6..8] != STREAM_FLAGS {
        return Err("unexpected xz stream layout".into());
    }
    let footer = &xz[xz.len() - FOOTER_LEN..];
    let backward = u32::from_le_bytes(footer[4..8].try_into().expect("4 bytes"));
    let index_len = (backward as usize + 1) * 4;
    let index_start = xz.len() - FOOTER_LEN - index_len;
    let index = &xz[index_start..xz.len() - FOOTER_LEN];
    let mut pos = 1; // index indicator
    if read_varint(index, &mut pos)? != 1 {
        return Err("expected exactly one block".into());
    }
    let unpadded_size = read_varint(index, &mut pos)?;
    let uncompressed_size = read_varint(index, &mut pos)?;
    Ok(Some(XzBlock {
        bytes: xz[HEADER_LEN..index_start].to_vec(),
        unpadded_size,
        uncompressed_size,
    }))
}

/// The stream header every joined file starts with.
pub fn stream_header() -> Vec<u8> {
    let mut h = vec![0xFD, b'7', b'z', b'X', b'Z', 0x00];
    h.extend_from_slice(&STREAM_FLAGS);
    h.extend_from_slice(&crc32fast::hash(&STREAM_FLAGS).to_le_bytes());
    h
}

/// The index and footer that close a stream holding blocks of these
/// `(unpadded, uncompressed)` sizes.
pub fn stream_tail(blocks: impl Iterator<Item = (u64, u64)>) -> Vec<u8> {
    let blocks: Vec<(u64, u64)> = blocks.collect();
    let mut index = vec![0x00];
    write_varint(&mut index, blocks.len() as u64);
    for (unpadded, uncompressed) in &blocks {
        write_varint(&mut index, *unpadded);
        write_varint(&mut index, *uncompressed);
    }
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let backward = (index.len() / 4 - 1) as u32;
    let mut footer_body = backward.to_le_bytes().to_vec();
    footer_body.extend_from_slice(&STREAM_FLAGS);
    let mut out = index;
    out.extend_from_slice(&crc32fast::hash(&footer_body).to_le_bytes());
    out.extend_from_slice(&footer_body);
    out.extend_from_slice(b"YZ");
    out
}

/// Joins blocks into one complete stream.
#[cfg(test)]
fn join<'a>(blocks: impl Iterator<Item = &'a XzBlock> + Clone) -> Vec<u8> {
    let mut out = stream_header();
    for b in blocks.clone() {
        out.extend_from_slice(&b.bytes);
    }
    out.extend_from_slice(&stream_tail(
        blocks.map(|b| (b.unpadded_size, b.uncompressed_size)),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(xz: &[u8]) -> Vec<u8> {
        // A single-stream decoder: must read every block of the one stream.
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(xz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn joined_blocks_form_one_valid_stream() {
        let parts: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                format!("Package: p{i}\nVersion: 1\n\n")
                    .repeat(50 * (i + 1))
                    .into_bytes()
            })
            .collect();
        let blocks: Vec<XzBlock> = parts
            .iter()
            .filter_map(|p| compress_block(p, 6).unwrap())
            .collect();
        let joined = join(blocks.iter());
        assert_eq!(decode(&joined), parts.concat());
        // Empty input: a valid empty stream.
        assert!(compress_block(b"", 6).unwrap().is_none());
        assert_eq!(decode(&join([].iter())), b"");
        // Joining one block gives exactly the stream it was cut from.
        let one = compress_block(&parts[0], 6).unwrap().unwrap();
        assert_eq!(decode(&join(std::iter::once(&one))), parts[0]);
        assert_eq!(
            join(std::iter::once(&one)).len(),
            12 + one.bytes.len()
                + stream_tail(std::iter::once((one.unpadded_size, one.uncompressed_size))).len()
        );
    }
}
