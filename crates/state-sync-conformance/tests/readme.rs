//! The README snippets a user copies are code CI runs: the "Testing your
//! transport" block of the repository README and of this crate's README is
//! the walk-through crate's `tests/conformance.rs`, which `.ci/run` builds
//! and runs against the packaged crates.

use std::path::Path;

/// The Rust block after the `// tests/conformance.rs` line of `readme`.
fn conformance_snippet(readme: &str) -> Option<String> {
    let start = readme.find("// tests/conformance.rs\n")? + "// tests/conformance.rs\n".len();
    let end = start + readme[start..].find("```")?;
    Some(readme[start..end].to_owned())
}

#[test]
fn the_readme_snippets_are_the_example_crates_conformance_test() {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = kit.join("../..");
    let Ok(example) =
        std::fs::read_to_string(root.join("crates/examples/my-transport/tests/conformance.rs"))
    else {
        // Built from the packaged crate: the repository is not here.
        return;
    };
    for readme in [root.join("README.md"), kit.join("README.md")] {
        let text = std::fs::read_to_string(&readme).expect("the README");
        let snippet = conformance_snippet(&text)
            .unwrap_or_else(|| panic!("{}: no `// tests/conformance.rs` block", readme.display()));
        assert_eq!(
            snippet,
            example,
            "{}: the snippet differs from crates/examples/my-transport/tests/conformance.rs",
            readme.display()
        );
    }
}
