//! Guards for providers that decompress uploads while validating them.

use std::io::{self, Read};

/// A reader that fails once more than `limit` bytes came out of it, so a
/// decompression bomb costs a bounded amount of work to refuse.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            left: limit,
            limit,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other(format!("it unpacks to more than {} bytes", self.limit))
        })?;
        Ok(n)
    }
}

/// How far an upload may expand when decompressed: `max(floor, ratio × size)`.
pub fn unpack_limit(size: u64) -> u64 {
    const FLOOR: u64 = 1 << 30;
    const RATIO: u64 = 100;
    FLOOR.max(size.saturating_mul(RATIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_the_limit() {
        let mut ok = Bounded::new(&[1u8; 10][..], 10);
        assert_eq!(io::copy(&mut ok, &mut io::sink()).unwrap(), 10);
        let mut over = Bounded::new(&[1u8; 11][..], 10);
        assert!(io::copy(&mut over, &mut io::sink()).is_err());
        assert_eq!(unpack_limit(1), 1 << 30);
        assert_eq!(unpack_limit(1 << 30), 100 << 30);
    }
}
