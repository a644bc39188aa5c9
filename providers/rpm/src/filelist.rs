//! The file list a package header declares (`BASENAMES`, `DIRNAMES`,
//! `DIRINDEXES`, `FILEMODES`, and the pre-4.0 `OLDFILENAMES`), which is what
//! rpm installs. A binary package may only name absolute paths without `..`
//! components and no device files; a source package's files are single
//! names (rpm puts them in `%_sourcedir`).

use rpm::{IndexTag, PackageMetadata};

/// `S_IFMT` and the character and block device types of `st_mode`.
const S_IFMT: u16 = 0o170000;
const S_IFCHR: u16 = 0o020000;
const S_IFBLK: u16 = 0o060000;

/// Why a header's file list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileListError {
    #[error("the file list names {path:?}, which {why}")]
    UnsafePath { path: String, why: &'static str },
    #[error("the file list names {path:?}, a device file")]
    Device { path: String },
    #[error("the file list is inconsistent: {0}")]
    Inconsistent(String),
}

impl FileListError {
    /// The stable error code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            FileListError::UnsafePath { .. } => "unsafe_path",
            FileListError::Device { .. } => "device_file",
            FileListError::Inconsistent(_) => "invalid_rpm",
        }
    }
}

/// What is wrong with one path of a binary (`source == false`) or source
/// package, if anything.
fn path_problem(path: &str, base: &str, source: bool) -> Option<&'static str> {
    // rpm lists "/" itself (owned by `filesystem`) as "/" + "".
    if base.is_empty() && (source || path != "/") {
        Some("has an empty file name")
    } else if path.contains('\0') {
        Some("holds a NUL byte")
    } else if path.split('/').any(|seg| seg == "..") {
        Some("has a '..' component")
    } else if source && (path.contains('/') || base == ".") {
        Some("is not a single file name, as a source package's files are")
    } else if !source && !path.starts_with('/') {
        Some("is not an absolute path")
    } else {
        None
    }
}

/// A header's file list, as arrays (empty when the tag is absent).
#[derive(Debug, Default)]
pub struct FileList<'a> {
    pub dirnames: Vec<&'a str>,
    pub basenames: Vec<&'a str>,
    pub dirindexes: Vec<u32>,
    pub modes: Vec<u16>,
    pub oldfilenames: Vec<&'a str>,
}

impl<'a> FileList<'a> {
    /// Reads the arrays from a decoded header.
    pub fn of(m: &'a PackageMetadata) -> Result<FileList<'a>, FileListError> {
        let h = &m.header;
        let absent = |e: &rpm::Error| matches!(e, rpm::Error::TagNotFound(_));
        let bad = |tag: &str, e: rpm::Error| FileListError::Inconsistent(format!("{tag}: {e}"));
        let strings = |tag: IndexTag, name: &str| match h.get_entry_data_as_string_array(tag) {
            Err(e) if absent(&e) => Ok(Vec::new()),
            other => other.map_err(|e| bad(name, e)),
        };
        Ok(FileList {
            dirnames: strings(IndexTag::RPMTAG_DIRNAMES, "DIRNAMES")?,
            basenames: strings(IndexTag::RPMTAG_BASENAMES, "BASENAMES")?,
            oldfilenames: strings(IndexTag::RPMTAG_OLDFILENAMES, "OLDFILENAMES")?,
            dirindexes: match h.get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES) {
                Err(e) if absent(&e) => Vec::new(),
                other => other.map_err(|e| bad("DIRINDEXES", e))?,
            },
            modes: match h.get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES) {
                Err(e) if absent(&e) => Vec::new(),
                other => other.map_err(|e| bad("FILEMODES", e))?,
            },
        })
    }

    /// Checks every path and mode.
    pub fn check(&self, source: bool) -> Result<(), FileListError> {
        let n = self.basenames.len();
        if self.dirindexes.len() != n {
            return Err(FileListError::Inconsistent(format!(
                "{n} BASENAMES but {} DIRINDEXES",
                self.dirindexes.len()
            )));
        }
        let files = n.max(self.oldfilenames.len());
        if !self.modes.is_empty() && self.modes.len() != files {
            return Err(FileListError::Inconsistent(format!(
                "{files} files but {} FILEMODES",
                self.modes.len()
            )));
        }
        let mut paths = Vec::with_capacity(files);
        for (base, &index) in self.basenames.iter().zip(&self.dirindexes) {
            let dir = self.dirnames.get(index as usize).ok_or_else(|| {
                FileListError::Inconsistent(format!(
                    "DIRINDEXES names directory {index} of {}",
                    self.dirnames.len()
                ))
            })?;
            paths.push((format!("{dir}{base}"), *base));
        }
        for old in &self.oldfilenames {
            let base = old.rsplit('/').next().unwrap_or_default();
            paths.push((old.to_string(), base));
        }
        for (i, (path, base)) in paths.iter().enumerate() {
            if let Some(why) = path_problem(path, base, source) {
                return Err(FileListError::UnsafePath {
                    path: path.clone(),
                    why,
                });
            }
            let kind = self.modes.get(i).map_or(0, |m| m & S_IFMT);
            if kind == S_IFCHR || kind == S_IFBLK {
                return Err(FileListError::Device { path: path.clone() });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list<'a>(dirs: &[&'a str], files: &[(&'a str, u32, u16)]) -> FileList<'a> {
        FileList {
            dirnames: dirs.to_vec(),
            basenames: files.iter().map(|f| f.0).collect(),
            dirindexes: files.iter().map(|f| f.1).collect(),
            modes: files.iter().map(|f| f.2).collect(),
            oldfilenames: Vec::new(),
        }
    }

    fn code(l: &FileList<'_>, source: bool) -> &'static str {
        l.check(source).err().map_or("ok", |e| e.code())
    }

    #[test]
    fn binary_packages_name_absolute_paths_without_dot_dot() {
        let ok = list(
            &["/usr/bin/", "/etc/"],
            &[
                ("hello", 0, 0o100755),
                ("hello.conf", 1, 0o100644),
                ("a..b", 1, 0o100644),
            ],
        );
        assert_eq!(code(&ok, false), "ok");
        let root = list(&["/"], &[("", 0, 0o040755)]);
        assert_eq!(
            code(&root, false),
            "ok",
            "the root directory, as rpm lists it"
        );
        assert_eq!(code(&root, true), "unsafe_path");
        for (dirs, base) in [
            (["/usr/../etc/"], "passwd"),
            (["/usr/bin/"], ".."),
            (["usr/bin/"], "x"),
            ([""], "x"),
            (["/usr/bin/"], ""),
            (["/usr/bin/"], "a\0b"),
        ] {
            let l = list(&dirs, &[(base, 0, 0o100644)]);
            assert_eq!(code(&l, false), "unsafe_path", "{dirs:?} {base:?}");
        }
    }

    #[test]
    fn device_files_are_refused() {
        for mode in [0o020644, 0o060600] {
            let l = list(&["/dev/"], &[("sda", 0, mode)]);
            let err = l.check(false).unwrap_err();
            assert_eq!(err.code(), "device_file");
            assert!(err.to_string().contains("/dev/sda"), "{err}");
        }
        // Directories, symlinks, FIFOs and sockets are fine.
        for mode in [0o040755, 0o120777, 0o010644, 0o140755] {
            assert_eq!(code(&list(&["/run/"], &[("x", 0, mode)]), false), "ok");
        }
    }

    #[test]
    fn source_packages_name_single_files() {
        let ok = list(
            &[""],
            &[("t.spec", 0, 0o100644), ("t-1.tar.gz", 0, 0o100644)],
        );
        assert_eq!(code(&ok, true), "ok");
        assert_eq!(
            code(&ok, false),
            "unsafe_path",
            "relative in a binary package"
        );
        for (dir, base) in [("", ".."), ("../", "x"), ("a/", "x"), ("", "")] {
            assert_eq!(
                code(&list(&[dir], &[(base, 0, 0o100644)]), true),
                "unsafe_path"
            );
        }
    }

    #[test]
    fn old_file_names_and_inconsistent_arrays() {
        let mut l = FileList {
            oldfilenames: vec!["/usr/bin/ok", "/usr/../../etc/shadow"],
            ..FileList::default()
        };
        assert_eq!(code(&l, false), "unsafe_path");
        l.oldfilenames.pop();
        assert_eq!(code(&l, false), "ok");
        let mut l = list(&["/usr/bin/"], &[("a", 0, 0o100644)]);
        l.dirindexes = vec![3];
        assert_eq!(code(&l, false), "invalid_rpm");
        l.dirindexes = vec![];
        assert_eq!(code(&l, false), "invalid_rpm");
        let mut l = list(&["/usr/bin/"], &[("a", 0, 0o100644)]);
        l.modes.push(0);
        assert_eq!(code(&l, false), "invalid_rpm");
    }
}
