//! Rebuild when the embedded scenario corpus changes: `include_dir!` alone
//! does not tell cargo which files it read.

fn main() {
    println!("cargo:rerun-if-changed=contract-specs");
}
