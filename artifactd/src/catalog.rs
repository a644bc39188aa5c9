//! What people browse: a repository's packages grouped by name, each with
//! its newest version in the format's own ordering, and searches across
//! repositories.
//!
//! Built from the package snapshot each instance already keeps in memory
//! (never from the database on a page view) and cached per repository until
//! the snapshot moves, so a page of a 10,000-package repository is a filter,
//! a sort and a slice. Knows nothing of HTTP; `http::ui` renders it.

use std::cmp::Ordering;
use std::sync::Arc;

use artifactd_provider_api::{PackageRecord, Provider};
use serde::Serialize;

use crate::state::RepoState;

/// One package name of a repository.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    /// The newest version, as the format's clients order versions.
    pub latest: String,
    /// The newest version's one-line summary.
    pub summary: String,
    pub versions: usize,
    pub files: usize,
    /// Bytes of every file of every version.
    pub size: u64,
    /// The newest upload among its versions (ms since the epoch).
    pub updated: i64,
    #[serde(skip)]
    lower: String,
}

/// A repository's packages at one snapshot `seq`.
#[derive(Debug)]
pub struct Catalog {
    pub seq: i64,
    /// Sorted by name.
    pub entries: Vec<Entry>,
    /// Distinct package sections (apt `dist/component`, rpm dists), sorted.
    pub sections: Vec<String>,
    pub versions: usize,
    pub files: usize,
    pub size: u64,
    pub last_upload: Option<i64>,
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    Updated,
    Size,
    Versions,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "name" => Sort::Name,
            "updated" => Sort::Updated,
            "size" => Sort::Size,
            "versions" => Sort::Versions,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Updated => "updated",
            Sort::Size => "size",
            Sort::Versions => "versions",
        }
    }

    /// Names read best A→Z, the rest biggest/newest first.
    pub fn default_desc(self) -> bool {
        self != Sort::Name
    }
}

/// A listing request: filter, order and page (1-based).
#[derive(Debug, Clone)]
pub struct Query {
    pub filter: String,
    pub sort: Sort,
    pub desc: bool,
    pub page: usize,
    pub per_page: usize,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Entries that match the filter, on every page.
    pub matches: usize,
    pub page: usize,
    pub pages: usize,
}

impl Catalog {
    /// Groups `packages` by name; `provider` orders versions and gives summaries.
    pub fn build(provider: &dyn Provider, packages: &[PackageRecord], seq: i64) -> Catalog {
        let mut order: Vec<&PackageRecord> = packages.iter().collect();
        order.sort_by(|a, b| a.name.cmp(&b.name));
        let mut entries: Vec<Entry> = Vec::new();
        let mut sections: Vec<String> = Vec::new();
        for group in order.chunk_by(|a, b| a.name == b.name) {
            let newest = group
                .iter()
                .copied()
                .max_by(|a, b| newer(provider, a, b))
                .expect("chunks are never empty");
            let mut versions: Vec<&str> = group.iter().map(|p| p.version.as_str()).collect();
            versions.sort_unstable();
            versions.dedup();
            let files = group.iter().flat_map(|p| &p.files);
            entries.push(Entry {
                name: newest.name.clone(),
                latest: newest.version.clone(),
                summary: provider.summary(newest),
                versions: versions.len(),
                files: files.clone().count(),
                size: files.map(|f| f.size).sum(),
                updated: group.iter().map(|p| p.uploaded_at).max().unwrap_or(0),
                lower: newest.name.to_lowercase(),
            });
            sections.extend(group.iter().map(|p| p.section.clone()));
        }
        sections.sort_unstable();
        sections.dedup();
        Catalog {
            seq,
            versions: entries.iter().map(|e| e.versions).sum(),
            files: entries.iter().map(|e| e.files).sum(),
            size: entries.iter().map(|e| e.size).sum(),
            last_upload: entries.iter().map(|e| e.updated).max(),
            entries,
            sections,
        }
    }

    /// The entries whose name contains `filter` (case-insensitive), ordered
    /// and cut into pages. A page past the end is the last page.
    pub fn query(&self, q: &Query) -> Page<&Entry> {
        let needle = q.filter.trim().to_lowercase();
        let mut rows: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| needle.is_empty() || e.lower.contains(&needle))
            .collect();
        let key = |a: &&Entry, b: &&Entry| match q.sort {
            Sort::Name => Ordering::Equal,
            Sort::Updated => a.updated.cmp(&b.updated),
            Sort::Size => a.size.cmp(&b.size),
            Sort::Versions => a.versions.cmp(&b.versions),
        };
        // Entries are in name order already; a stable sort keeps names as
        // the tie-breaker.
        if q.sort != Sort::Name {
            rows.sort_by(key);
        }
        if q.desc {
            rows.reverse();
        }
        paginate(rows, q.page, q.per_page)
    }

    /// Entries matching a search, best first: the exact name, then names
    /// that start with it, then the rest, each by name.
    pub fn search<'a>(&'a self, needle: &str) -> impl Iterator<Item = (u8, &'a Entry)> + 'a {
        let needle = needle.trim().to_lowercase();
        self.entries.iter().filter_map(move |e| {
            if e.lower == needle {
                Some((0, e))
            } else if e.lower.starts_with(&needle) {
                Some((1, e))
            } else if e.lower.contains(&needle) {
                Some((2, e))
            } else {
                None
            }
        })
    }
}

/// Page `page` (1-based; past the end, the last) of `per_page` items.
pub fn paginate<T>(items: Vec<T>, page: usize, per_page: usize) -> Page<T> {
    let per_page = per_page.max(1);
    let matches = items.len();
    let pages = matches.div_ceil(per_page).max(1);
    let page = page.clamp(1, pages);
    let rows = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Page {
        rows,
        matches,
        page,
        pages,
    }
}

/// Orders two packages by version, then by when they were uploaded (the
/// same version in several sections or architectures).
fn newer(provider: &dyn Provider, a: &PackageRecord, b: &PackageRecord) -> Ordering {
    provider
        .compare_versions(&a.version, &b.version)
        .then(a.uploaded_at.cmp(&b.uploaded_at))
}

/// The catalog of a repository's current snapshot, built at most once per
/// snapshot change on this instance.
pub fn of(state: &RepoState, provider: &dyn Provider) -> Arc<Catalog> {
    let snapshot = state.snapshot.lock().expect("lock");
    let mut cached = state.catalog.lock().expect("lock");
    if let Some(c) = cached.as_ref()
        && c.seq == snapshot.seq
    {
        return c.clone();
    }
    let built = Arc::new(Catalog::build(provider, &snapshot.packages, snapshot.seq));
    *cached = Some(built.clone());
    built
}

/// Every version of one package in a repository, newest first; within a
/// version, by section and variant.
pub fn versions(state: &RepoState, provider: &dyn Provider, name: &str) -> Vec<PackageRecord> {
    let mut found: Vec<PackageRecord> = state
        .snapshot
        .lock()
        .expect("lock")
        .packages
        .iter()
        .filter(|p| p.name == name)
        .cloned()
        .collect();
    found.sort_by(|a, b| {
        newer(provider, b, a)
            .then_with(|| a.section.cmp(&b.section))
            .then_with(|| a.variant.cmp(&b.variant))
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use artifactd_provider_api::{FileRecord, Snippet, SnippetContext};

    struct Plain;
    impl Provider for Plain {
        fn name(&self) -> &'static str {
            "plain"
        }
        fn ingest(
            &self,
            _: &artifactd_provider_api::UploadContext<'_>,
            _: &[artifactd_provider_api::UploadedFile],
        ) -> Result<Vec<artifactd_provider_api::NewPackage>, artifactd_provider_api::ProviderError>
        {
            unreachable!()
        }
        fn render(
            &self,
            _: &artifactd_provider_api::RenderInput<'_>,
        ) -> Result<Vec<artifactd_provider_api::IndexFile>, artifactd_provider_api::ProviderError>
        {
            unreachable!()
        }
        fn summary(&self, p: &PackageRecord) -> String {
            format!("{} at {}", p.name, p.version)
        }
        fn install_snippets(&self, _: &SnippetContext<'_>) -> Vec<Snippet> {
            Vec::new()
        }
    }

    fn pkg(id: i64, name: &str, version: &str, at: i64, size: u64) -> PackageRecord {
        PackageRecord {
            id,
            seq: id,
            name: name.into(),
            version: version.into(),
            section: "s".into(),
            variant: String::new(),
            metadata: Default::default(),
            uploaded_at: at,
            uploader: "u".into(),
            yanked: None,
            files: vec![FileRecord {
                filename: format!("{name}-{version}"),
                path: format!("{name}/{version}"),
                sha256: String::new(),
                size,
                content_type: String::new(),
                metadata: Default::default(),
                uploaded_at: at,
            }],
        }
    }

    fn catalog() -> Catalog {
        let packages = vec![
            pkg(1, "zeta", "1.10", 100, 5),
            pkg(2, "zeta", "1.9", 300, 7),
            pkg(3, "alpha", "2.0", 200, 1),
            pkg(4, "Alphabet", "0.1", 50, 100),
            pkg(5, "beta", "1.0", 400, 2),
        ];
        Catalog::build(&Plain, &packages, 9)
    }

    #[test]
    fn groups_by_name_with_the_newest_version_by_the_formats_order() {
        let c = catalog();
        let names: Vec<_> = c.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Alphabet", "alpha", "beta", "zeta"]);
        let zeta = &c.entries[3];
        assert_eq!(
            (zeta.latest.as_str(), zeta.versions, zeta.size),
            ("1.10", 2, 12)
        );
        assert_eq!(
            zeta.updated, 300,
            "the newest upload, not the newest version's"
        );
        assert_eq!(zeta.summary, "zeta at 1.10");
        assert_eq!(
            (c.versions, c.files, c.size, c.last_upload),
            (5, 5, 115, Some(400))
        );
        assert_eq!(c.sections, ["s"]);
    }

    #[test]
    fn filters_sorts_and_pages() {
        let c = catalog();
        let q = |filter: &str, sort: Sort, desc: bool, page: usize| Query {
            filter: filter.into(),
            sort,
            desc,
            page,
            per_page: 2,
        };
        let names = |p: Page<&Entry>| {
            (
                p.rows.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
                p.matches,
                p.page,
                p.pages,
            )
        };
        assert_eq!(
            names(c.query(&q("", Sort::Name, false, 2))),
            (vec!["beta".into(), "zeta".into()], 4, 2, 2)
        );
        assert_eq!(
            names(c.query(&q("ALPHA", Sort::Name, false, 1))),
            (vec!["Alphabet".into(), "alpha".into()], 2, 1, 1)
        );
        assert_eq!(
            names(c.query(&q("", Sort::Updated, true, 1))).0,
            ["beta", "zeta"]
        );
        assert_eq!(
            names(c.query(&q("", Sort::Size, true, 1))).0,
            ["Alphabet", "zeta"]
        );
        // Past the end: the last page. Nothing matching: one empty page.
        assert_eq!(names(c.query(&q("", Sort::Name, false, 99))).2, 2);
        assert_eq!(
            names(c.query(&q("nothing", Sort::Name, false, 1))),
            (vec![], 0, 1, 1)
        );
    }

    #[test]
    fn search_ranks_exact_then_prefix_then_substring() {
        let c = catalog();
        let mut hits: Vec<_> = c.search("alpha").map(|(r, e)| (r, &e.name)).collect();
        hits.sort();
        assert_eq!(
            hits,
            [(0, &"alpha".to_owned()), (1, &"Alphabet".to_owned())]
        );
        assert_eq!(c.search("et").count(), 3, "alphabet, beta, zeta");
    }
}
