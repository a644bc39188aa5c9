//! A project's versions in page order (PEP 440, unparsable ones first by
//! text), kept from one render to the next. A render merges the project's
//! package ids with the previous render's, so only packages it has not
//! seen are parsed and placed: a project of thousands of files costs an
//! integer merge per upload, not a parse, a hash and a sort per file.

use std::cmp::Ordering;
use std::str::FromStr;

use artifactd_provider_api::PackageRecord;
use pep440_rs::Version;

#[derive(Debug, Default)]
pub struct VersionOrder {
    /// Every package of the project as last seen: (id, version), by id.
    /// A package's id fixes its version (the version is part of its identity).
    ids: Vec<(i64, String)>,
    /// Distinct versions in page order.
    sorted: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    parsed: Option<Version>,
    text: String,
    /// How many of the project's packages have this version.
    holders: usize,
}

fn order(a: (&Option<Version>, &str), b: (&Option<Version>, &str)) -> Ordering {
    a.0.cmp(b.0).then_with(|| a.1.cmp(b.1))
}

impl VersionOrder {
    /// Brings the order up to `pkgs` (sorted by id) and answers the
    /// distinct versions in page order.
    pub fn update(&mut self, pkgs: &[&PackageRecord]) -> Vec<&str> {
        let old = std::mem::take(&mut self.ids);
        let mut ids = Vec::with_capacity(pkgs.len());
        let mut old = old.into_iter().peekable();
        for p in pkgs {
            while let Some((id, _)) = old.peek()
                && *id < p.id
            {
                let (_, v) = old.next().expect("peeked");
                self.release(&v);
            }
            match old.peek() {
                Some((id, _)) if *id == p.id => ids.push(old.next().expect("peeked")),
                _ => {
                    self.hold(&p.version);
                    ids.push((p.id, p.version.clone()));
                }
            }
        }
        for (_, v) in old {
            self.release(&v);
        }
        self.ids = ids;
        self.sorted.iter().map(|s| s.text.as_str()).collect()
    }

    fn find(&self, parsed: &Option<Version>, text: &str) -> Result<usize, usize> {
        self.sorted
            .binary_search_by(|s| order((&s.parsed, &s.text), (parsed, text)))
    }

    fn hold(&mut self, text: &str) {
        let parsed = Version::from_str(text).ok();
        match self.find(&parsed, text) {
            Ok(i) => self.sorted[i].holders += 1,
            Err(i) => self.sorted.insert(
                i,
                Slot {
                    parsed,
                    text: text.to_owned(),
                    holders: 1,
                },
            ),
        }
    }

    fn release(&mut self, text: &str) {
        let parsed = Version::from_str(text).ok();
        if let Ok(i) = self.find(&parsed, text) {
            self.sorted[i].holders -= 1;
            if self.sorted[i].holders == 0 {
                self.sorted.remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: i64, version: &str) -> PackageRecord {
        PackageRecord {
            id,
            seq: id,
            name: "p".into(),
            version: version.into(),
            section: String::new(),
            variant: String::new(),
            metadata: Default::default(),
            uploaded_at: 0,
            uploader: String::new(),
            yanked: None,
            files: Vec::new(),
        }
    }

    /// What a render from scratch gives: sort and dedup every version.
    fn fresh(pkgs: &[&PackageRecord]) -> Vec<String> {
        let mut v: Vec<(Option<Version>, &str)> = pkgs
            .iter()
            .map(|p| (Version::from_str(&p.version).ok(), p.version.as_str()))
            .collect();
        v.sort();
        v.dedup_by(|a, b| a.1 == b.1);
        v.into_iter().map(|(_, t)| t.to_owned()).collect()
    }

    #[test]
    fn follows_additions_removals_and_shared_versions() {
        let all = [
            pkg(1, "1.0"),
            pkg(2, "0.9"),
            pkg(3, "1.0.0"),
            pkg(4, "not-pep440"),
            pkg(5, "2.0rc1"),
            pkg(6, "2.0"),
            pkg(7, "1.10"),
            pkg(8, "1.0"),
        ];
        let mut order = VersionOrder::default();
        // Each step: the ids present, as a growing, shrinking project.
        let steps: [&[usize]; 6] = [
            &[0, 1],
            &[0, 1, 2, 3],
            &[0, 1, 2, 3, 4, 5, 6, 7],
            &[1, 2, 4, 7],
            &[7],
            &[0, 3, 5, 6],
        ];
        for step in steps {
            let pkgs: Vec<&PackageRecord> = step.iter().map(|&i| &all[i]).collect();
            let got: Vec<String> = order.update(&pkgs).into_iter().map(str::to_owned).collect();
            assert_eq!(got, fresh(&pkgs), "step {step:?}");
        }
        // "1.0" and "1.0.0" are equal PEP 440 versions, listed apart by text.
        let pkgs: Vec<&PackageRecord> = all.iter().collect();
        let got = order.update(&pkgs);
        assert_eq!(
            got,
            ["not-pep440", "0.9", "1.0", "1.0.0", "1.10", "2.0rc1", "2.0"]
        );
    }
}
