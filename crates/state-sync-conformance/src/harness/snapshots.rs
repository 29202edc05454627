//! The report snapshots: each transport's verdict sheet checked against its
//! file, in `insta`'s format (so `cargo insta review` works on a pending
//! one), a difference shown as its changed lines only — a run where 150
//! cases changed prints a screen, not the sheet — and accepted in one step.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use similar::{ChangeTag, TextDiff};

use super::target::Target;

/// How many changed lines a differing snapshot prints.
const CHANGES_SHOWN: usize = 12;

/// Where a suite keeps its report snapshots.
pub(super) struct Snapshots<'a> {
    pub(super) target: &'a Target,
    /// Instead of `snapshots/` next to the test target.
    pub(super) dir: Option<&'a Path>,
}

/// A snapshot that differs from the run.
pub(super) struct Differs {
    /// What to print: which snapshot, the changed lines, where the new one is.
    pub(super) text: String,
}

impl Snapshots<'_> {
    fn file(&self, name: &str) -> Result<PathBuf, String> {
        self.target.snapshot_file(name, self.dir).ok_or_else(|| {
            format!(
                "cannot find {} to keep snapshot `{name}` next to it",
                self.target.file()
            )
        })
    }

    /// `contents` in `insta`'s file format.
    fn file_text(&self, contents: &str) -> String {
        format!(
            "---\nsource: {}\nexpression: contents\n---\n{}\n",
            self.target.file(),
            contents.trim_end()
        )
    }

    /// Checks `contents` against snapshot `name`. A difference (or a
    /// missing snapshot) writes the new one as a pending `.snap.new` beside
    /// it — unless `CI` is set, as `insta` does — and says what changed.
    pub(super) fn check(&self, name: &str, contents: &str) -> Result<Option<Differs>, String> {
        let path = self.file(name)?;
        let old = match std::fs::read_to_string(&path) {
            Ok(text) => Some(body(&text).to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let new = contents.trim_end();
        if old.as_deref().map(str::trim_end) == Some(new) {
            return Ok(None);
        }
        let pending = path.with_extension("snap.new");
        let written = if std::env::var_os("CI").is_some() {
            "CI is set: nothing was written".to_owned()
        } else {
            // The first snapshot of a target: its folder may not exist yet.
            if let Some(dir) = pending.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&pending, self.file_text(contents))
                .map_err(|e| format!("{}: {e}", pending.display()))?;
            format!("the new one: {}", pending.display())
        };
        let mut text = match &old {
            None => format!(
                "report snapshot `{name}` is new ({} lines; {written})\n",
                new.lines().count()
            ),
            Some(old) => {
                let mut text =
                    format!("report snapshot `{name}` differs from the run ({written}):\n");
                text.push_str(&changes(old.trim_end(), new));
                text
            }
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(Some(Differs { text }))
    }

    /// Accepts `contents` as snapshot `name` and removes a pending
    /// `.snap.new` of it (a stale one must never be accepted later).
    pub(super) fn accept(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let path = self.file(name)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, self.file_text(contents))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let pending = path.with_extension("snap.new");
        if pending.exists() {
            std::fs::remove_file(&pending).map_err(|e| format!("{}: {e}", pending.display()))?;
        }
        Ok(path)
    }
}

/// The contents of an `insta` snapshot file: what follows its header.
fn body(file: &str) -> &str {
    let Some(rest) = file.strip_prefix("---\n") else {
        return file;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + "\n---\n".len()..],
        None => file,
    }
}

/// The changed lines of `old` → `new`, the first [`CHANGES_SHOWN`] of them
/// and how many more.
fn changes(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let changed: Vec<String> = diff
        .iter_all_changes()
        .filter_map(|change| {
            let sign = match change.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => return None,
            };
            Some(format!("  {sign} {}", change.value().trim_end()))
        })
        .collect();
    let mut out = String::new();
    for line in changed.iter().take(CHANGES_SHOWN) {
        let _ = writeln!(out, "{line}");
    }
    if changed.len() > CHANGES_SHOWN {
        let _ = writeln!(
            out,
            "  … and {} more changed lines",
            changed.len() - CHANGES_SHOWN
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &Path) -> Target {
        let manifest: &'static str = Box::leak(dir.to_string_lossy().into_owned().into_boxed_str());
        Target::__from_macro(
            "p",
            "conformance",
            manifest,
            ("tests/conformance.rs", "conformance"),
        )
    }

    #[test]
    fn accepting_writes_insta_s_file_and_drops_a_stale_pending_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let snapshots = dir.join("tests/snapshots");
        std::fs::create_dir_all(&snapshots).expect("dirs");
        std::fs::write(dir.join("tests/conformance.rs"), "// the test target\n").expect("source");
        let stale = snapshots.join("conformance__report-t.snap.new");
        std::fs::write(&stale, "an older run").expect("stale");
        let target = target(dir);
        let place = Snapshots {
            target: &target,
            dir: None,
        };
        let path = place.accept("report-t", "pass  t::a\n").expect("accepted");
        assert_eq!(path, snapshots.join("conformance__report-t.snap"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("written"),
            "---\nsource: tests/conformance.rs\nexpression: contents\n---\npass  t::a\n"
        );
        assert!(
            !stale.exists(),
            "a stale .snap.new must not survive the accept"
        );
        assert!(
            place
                .check("report-t", "pass  t::a")
                .expect("read")
                .is_none()
        );
    }

    #[test]
    fn a_difference_shows_only_the_changed_lines() {
        let old: String = (0..200).map(|i| format!("pass  t::s{i:03}\n")).collect();
        let new = old.replace("pass  t::s007", "fail  t::s007  TR-6");
        assert_eq!(
            changes(&old, &new),
            "  - pass  t::s007\n  + fail  t::s007  TR-6\n"
        );
        let all_failing = old.replace("pass", "fail");
        let text = changes(&old, &all_failing);
        assert_eq!(text.lines().count(), CHANGES_SHOWN + 1, "{text}");
        assert!(text.ends_with("… and 388 more changed lines\n"), "{text}");
        assert_eq!(
            body("---\nsource: a.rs\nexpression: contents\n---\nx\ny\n"),
            "x\ny\n"
        );
    }
}
