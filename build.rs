//! Records a sha256 of every source and template file at compile time, so
//! each stage's code version covers exactly the files it runs.
use sha2::{Digest, Sha256};
use std::{env, fs, path::Path};

fn main() {
    let mut rows = Vec::new();
    for root in ["src", "templates"] {
        println!("cargo:rerun-if-changed={root}");
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.expect("walk source tree");
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            let bytes = fs::read(path).expect("read source file");
            let rel = path.to_string_lossy().replace('\\', "/");
            rows.push(format!("    (\"{rel}\", \"{}\"),\n", hex::encode(Sha256::digest(&bytes))));
        }
    }
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("source_digests.rs");
    let body = format!("pub const SOURCE_DIGESTS: &[(&str, &str)] = &[\n{}];\n", rows.concat());
    fs::write(out, body).expect("write source digests");
}
