//! The test target a harness runs in: its package and name (for the
//! commands it prints), where its reports and snapshots go.

use std::path::{Path, PathBuf};

use super::{REPORTS_ENV, SEED_ENV};

/// The test target a harness runs in. Made by [`main!`](crate::main).
#[derive(Debug, Clone)]
pub struct Target {
    package: &'static str,
    name: &'static str,
    manifest_dir: &'static str,
    /// `file!()` of the test target (snapshots are filed next to it).
    file: &'static str,
    /// `module_path!()` of the test target (the snapshots' name prefix).
    module: &'static str,
}

impl Target {
    /// Not public API: [`main!`](crate::main) calls it.
    #[doc(hidden)]
    pub fn __from_macro(
        package: &'static str,
        name: &'static str,
        manifest_dir: &'static str,
        (file, module): (&'static str, &'static str),
    ) -> Self {
        Self {
            package,
            name,
            manifest_dir,
            file,
            module,
        }
    }

    /// The `file!()` of the test target.
    pub(super) fn file(&self) -> &str {
        self.file
    }

    /// The command that runs this target's whole suite with `env` set —
    /// in release when this run's build is one (no debug assertions), so
    /// that a printed command reuses the build it came from.
    pub(super) fn command(&self, env: &str) -> String {
        let env = if env.is_empty() {
            String::new()
        } else {
            format!("{env} ")
        };
        let release = if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        };
        format!(
            "{env}cargo test{release} -p {} --test {}",
            self.package, self.name
        )
    }

    /// The command that reruns one case of this target.
    pub(crate) fn rerun(&self, case: &str, seed: u64) -> String {
        format!(
            "{} -- --exact {case}",
            self.command(&format!("{SEED_ENV}={seed}"))
        )
    }

    /// The file snapshot `name` is kept in: `<module>__<name>.snap` in
    /// `dir`, or else in `snapshots/` next to the test target's source
    /// (found from the manifest directory up, as `file!()` is relative to
    /// the workspace root).
    pub(super) fn snapshot_file(&self, name: &str, dir: Option<&Path>) -> Option<PathBuf> {
        let file_name = format!("{}__{name}.snap", self.module.replace("::", "__"));
        if let Some(dir) = dir {
            return Some(dir.join(file_name));
        }
        let source = Path::new(self.manifest_dir)
            .ancestors()
            .map(|dir| dir.join(self.file))
            .find(|p| p.is_file())?;
        Some(source.parent()?.join("snapshots").join(file_name))
    }

    /// Where a full run writes its reports (and nextest's processes their
    /// case records).
    pub(super) fn reports_dir(&self) -> PathBuf {
        if let Some(dir) = std::env::var_os(REPORTS_ENV) {
            return PathBuf::from(dir);
        }
        // The test binary is `<target-dir>/<profile>/deps/<name>-<hash>`.
        let target_dir = std::env::current_exe().ok().and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "deps"))
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        });
        target_dir
            .unwrap_or_else(|| Path::new(self.manifest_dir).join("target"))
            .join("state-sync-conformance")
            .join(self.name)
    }
}
