//! Cutting pages into parts by content, and keeping the parts between
//! renders, so that publishing after one upload re-renders and stores only
//! the part that changed, however large the project's page.
//!
//! A part ends after a segment whose boundary hash is 0 modulo [`SPREAD`]:
//! boundaries depend on the segments themselves, not on their positions, so
//! appending or inserting a file touches one part.

use std::collections::HashMap;

use artifactd_provider_api::Part;
use sha2::{Digest, Sha256};

use crate::render::Seg;

/// Segments per part on average.
const SPREAD: u64 = 32;
/// No part grows past this many segments, whatever the hashes say.
const MAX_SEGMENTS: usize = 4 * SPREAD as usize;

/// Parts of one repository's last render, by the SHA-256 of their
/// segments' identities.
#[derive(Debug, Default)]
pub struct PartCache {
    parts: HashMap<[u8; 32], Part>,
}

/// One render's use of a [`PartCache`]: looks up the previous parts and
/// collects the ones in use, which become the next cache.
pub struct Assembler<'c> {
    previous: &'c PartCache,
    used: HashMap<[u8; 32], Part>,
    identity: Vec<u8>,
    text: String,
}

impl<'c> Assembler<'c> {
    pub fn new(previous: &'c PartCache) -> Self {
        Assembler {
            previous,
            used: HashMap::new(),
            identity: Vec::new(),
            text: String::new(),
        }
    }

    /// The parts of a page made of `segs`.
    pub fn page(&mut self, segs: &[Seg<'_>]) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut start = 0;
        let mut key = Sha256::new();
        for (i, seg) in segs.iter().enumerate() {
            self.identity.clear();
            seg.identity(&mut self.identity);
            key.update((self.identity.len() as u64).to_le_bytes());
            key.update(&self.identity);
            let last = i + 1 == segs.len();
            if seg.boundary() % SPREAD == 0 || i + 1 - start >= MAX_SEGMENTS || last {
                let k: [u8; 32] = std::mem::take(&mut key).finalize().into();
                parts.push(self.part(k, &segs[start..=i]));
                start = i + 1;
            }
        }
        parts
    }

    fn part(&mut self, key: [u8; 32], segs: &[Seg<'_>]) -> Part {
        if let Some(p) = self
            .used
            .get(&key)
            .or_else(|| self.previous.parts.get(&key))
        {
            let p = p.clone();
            self.used.insert(key, p.clone());
            return p;
        }
        self.text.clear();
        for s in segs {
            s.render(&mut self.text);
        }
        let p = Part::new(self.text.as_bytes().to_vec());
        self.used.insert(key, p.clone());
        p
    }

    /// The cache for the next render: the parts this one used.
    pub fn finish(self) -> PartCache {
        PartCache { parts: self.used }
    }
}
