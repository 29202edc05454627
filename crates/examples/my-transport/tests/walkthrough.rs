//! `docs/writing-a-transport.md` shows this crate's files; this test keeps
//! the two the same, so the walk-through is exactly the code CI builds and
//! runs. (It reads the repository's docs, so it belongs to this example
//! crate, not to the walk-through itself.)

use std::path::Path;

#[test]
fn the_walkthrough_shows_these_files_verbatim() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc_path = crate_dir.join("../../../docs/writing-a-transport.md");
    let doc = std::fs::read_to_string(&doc_path).expect("the walk-through");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "src/backend.rs",
        "tests/conformance.rs",
    ] {
        let text = std::fs::read_to_string(crate_dir.join(file)).expect("the file");
        let block = format!("\n{text}```\n");
        assert!(
            doc.contains(&block),
            "{} does not show {file} as it is:\n{text}",
            doc_path.display()
        );
    }
}
