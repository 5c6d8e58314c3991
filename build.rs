//! Records, at compile time, what each stage kind's code version is made of:
//! every source file's token digest and references (so the closure of a
//! kind's entry modules can be computed), the resolved crate graph from
//! Cargo.lock, and the compiler's version.
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::{env, fs};

#[path = "crates/engine/src/source_scan.rs"]
#[allow(dead_code)]
mod source_scan;

#[path = "crates/engine/src/gated.rs"]
mod gated;

fn main() {
    for path in ["src", "templates", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let manifest: toml::Table = toml::from_str(&fs::read_to_string("Cargo.toml").expect("read Cargo.toml")).expect("parse Cargo.toml");
    let deps = manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
    let externs: BTreeSet<String> = deps.keys().map(|k| k.replace('-', "_")).collect();
    let backends = backend_features(&manifest);
    let mut body = String::new();
    body.push_str(&format!("pub const RUSTC: &str = {:?};\n", rustc_version()));
    body.push_str(&format!("pub const PACKAGE_VERSION: &str = {:?};\n", env::var("CARGO_PKG_VERSION").unwrap()));
    body.push_str(&sources(&externs, &backends));
    body.push_str(&direct_deps(&deps));
    let digests = path_dep_digests(&deps);
    let enabled = enabled_features();
    let is_backend = |f: &String| backends.values().any(|fs| fs.contains(f));
    let base: Vec<String> = enabled.iter().filter(|f| !is_backend(f)).cloned().collect();
    body.push_str(&format!("pub const LOCKED: &[(&str, &str, &[usize])] = {};\n", locked_crates(&digests, &base)));
    // Every compiled-in backend walks the whole build's graph: made once.
    let compiled: Vec<&String> = backends.iter().filter(|(_, fs)| enabled.iter().any(|f| fs.contains(f))).map(|(b, _)| b).collect();
    let whole = if compiled.is_empty() { String::new() } else { locked_crates(&digests, &enabled) };
    let rows: String = compiled.iter().map(|backend| format!("    ({backend:?}, {whole}),\n")).collect();
    // The shape is the engine's `SourceTree::backends`: generated, not named.
    body.push_str("#[allow(clippy::type_complexity)]\n");
    body.push_str(&format!("pub const BACKEND_LOCKED: &[(&str, &[(&str, &str, &[usize])])] = &[\n{rows}];\n"));
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("source_digests.rs");
    fs::write(out, body).expect("write source digests");
}

fn rustc_version() -> String {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-V").output().expect("run rustc -V");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Module path of a file under `src/` (`src/a/mod.rs` and `src/a.rs` are `a`).
fn module_of(rel: &str) -> Option<Vec<String>> {
    let inner = rel.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut segs: Vec<String> = inner.split('/').map(String::from).collect();
    if matches!(segs.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        segs.pop();
    }
    Some(segs)
}

/// The file that holds a child module `name` of the file at `rel`.
fn child_file(rel: &str, name: &str) -> Option<String> {
    let dir = if rel.ends_with("/mod.rs") || rel == "src/lib.rs" || rel == "src/main.rs" {
        Path::new(rel).parent()?.to_path_buf()
    } else {
        Path::new(rel).with_extension("")
    };
    [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")]
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().replace('\\', "/"))
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", quoted.join(", "))
}

fn sources(externs: &BTreeSet<String>, backends: &BTreeMap<String, Vec<String>>) -> String {
    let gates = Gates::of(backends);
    let mut rows = String::new();
    for root in ["src", "templates"] {
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.expect("walk source tree");
            if entry.file_type().is_file() {
                rows.push_str(&source_row(&entry.path().to_string_lossy().replace('\\', "/"), externs, &gates));
            }
        }
    }
    format!("pub const SOURCES: &[repro_engine::code_version::SourceRow] = &[\n{rows}];\n")
}

/// The backend features, and which backend each compiles in.
struct Gates {
    features: BTreeSet<String>,
    backend: BTreeMap<String, String>,
}

impl Gates {
    fn of(backends: &BTreeMap<String, Vec<String>>) -> Gates {
        let backend: BTreeMap<String, String> =
            backends.iter().flat_map(|(b, fs)| fs.iter().map(move |f| (f.clone(), b.clone()))).collect();
        Gates { features: backend.keys().cloned().collect(), backend }
    }
}

fn source_row(rel: &str, externs: &BTreeSet<String>, gates: &Gates) -> String {
    let bytes = fs::read(rel).expect("read source file");
    let Some(module) = module_of(rel) else {
        let digest = hex::encode(Sha256::digest(&bytes));
        return format!(
            "    repro_engine::code_version::SourceRow {{ path: {rel:?}, digest: {digest:?}, module: None, mods: &[], gated: &[], paths: &[], bindings: &[], crates: &[], includes: &[], envs: &[] }},\n"
        );
    };
    let text = String::from_utf8(bytes).expect("source files are UTF-8");
    let all = source_scan::tokenize(&text);
    let gated = gated::gated_mods(&all, &gates.features);
    let tokens = gated::without(&all, &gated);
    let digest = hex::encode(Sha256::digest(source_scan::canonical(&tokens).as_bytes()));
    let refs = source_scan::scan(&tokens, &module, externs);
    let dir = Path::new(rel).parent().unwrap();
    let mods = refs.mods.iter().filter_map(|m| child_file(rel, m));
    let gated: Vec<String> =
        gated.iter().filter_map(|g| Some(format!("({:?}, {:?})", gates.backend[&g.feature], child_file(rel, &g.name)?))).collect();
    let paths = refs.paths.iter().map(|p| p.join("::"));
    let bindings: Vec<String> = refs.bindings.iter().map(|(n, p)| format!("({n:?}, {:?})", p.join("::"))).collect();
    let includes = refs.includes.iter().map(|i| dir.join(i).to_string_lossy().replace('\\', "/"));
    format!(
        "    repro_engine::code_version::SourceRow {{ path: {rel:?}, digest: {digest:?}, module: Some({:?}), mods: {}, gated: &[{}], paths: {}, bindings: &[{}], crates: {}, includes: {}, envs: {} }},\n",
        module.join("::"),
        list(mods),
        gated.join(", "),
        list(paths),
        bindings.join(", "),
        list(refs.crates.iter().cloned()),
        list(includes.map(normalise)),
        list(refs.envs.iter().cloned()),
    )
}

/// `src/stages/../../templates/x` -> `templates/x`.
fn normalise(path: String) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            ".." => {
                out.pop();
            }
            "." | "" => {}
            s => out.push(s),
        }
    }
    out.join("/")
}

/// `(crate name as used in code, package name, its line in Cargo.toml)`.
fn direct_deps(deps: &toml::Table) -> String {
    let rows: Vec<String> =
        deps.iter().map(|(name, spec)| format!("    ({:?}, {name:?}, {:?}),\n", name.replace('-', "_"), spec.to_string())).collect();
    format!("pub const DIRECT_DEPS: &[(&str, &str, &str)] = &[\n{}];\n", rows.concat())
}

/// For each path dependency (a crate of this workspace): a digest of the
/// tokens of its `[package.metadata.repro] key-sources`, the part of it
/// that stages run. Its version in the key becomes `version+digest`.
fn path_dep_digests(deps: &toml::Table) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, spec) in deps {
        let Some(dir) = spec.get("path").and_then(|p| p.as_str()) else { continue };
        let manifest: toml::Table =
            toml::from_str(&fs::read_to_string(Path::new(dir).join("Cargo.toml")).expect("read a path dependency's Cargo.toml"))
                .expect("parse it");
        let sources =
            manifest.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.get("repro")).and_then(|r| r.get("key-sources"));
        let sources: Vec<&str> =
            sources.and_then(|s| s.as_array()).map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        assert!(!sources.is_empty(), "{dir}/Cargo.toml: set [package.metadata.repro] key-sources to the files its stages run");
        let mut text = String::new();
        for source in sources {
            let root = Path::new(dir).join(source);
            println!("cargo:rerun-if-changed={}", root.display());
            for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
                let entry = entry.expect("walk key sources");
                if entry.file_type().is_file() {
                    let code = fs::read_to_string(entry.path()).expect("read a key source");
                    let digest = hex::encode(Sha256::digest(source_scan::canonical(&source_scan::tokenize(&code)).as_bytes()));
                    text.push_str(&format!("{} {digest}\n", entry.path().strip_prefix(dir).unwrap().display()));
                }
            }
        }
        out.insert(name.clone(), hex::encode(Sha256::digest(text.as_bytes()))[..12].to_string());
    }
    out
}

/// `[package.metadata.repro] backend-features`: backend -> the features that
/// compile it in. Their crates enter only the keys of stages on that backend.
fn backend_features(manifest: &toml::Table) -> BTreeMap<String, Vec<String>> {
    let table = manifest.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.get("repro"));
    let table = table.and_then(|r| r.get("backend-features")).and_then(|b| b.as_table()).cloned().unwrap_or_default();
    let names = |v: &toml::Value| v.as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect());
    table.iter().map(|(backend, features)| (backend.clone(), names(features).unwrap_or_default())).collect()
}

/// This build's features, as cargo passes them to build scripts.
fn enabled_features() -> Vec<String> {
    let mut features: Vec<String> = env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase().replace('_', "-")))
        .filter(|f| f != "default")
        .collect();
    features.sort();
    features
}

/// The crates of a build with `features`, as a literal of `(name, version,
/// indices of dependencies)`: cargo's resolve for this target and these
/// features, its normal and build edges (dev-dependencies are left out).
/// That resolve over-approximates what is compiled (it lists optional
/// crates such as burn-wgpu that no enabled feature builds), so keys move
/// more often than needed, never less. A path dependency's version carries
/// the digest of its key sources.
fn locked_crates(path_digests: &BTreeMap<String, String>, features: &[String]) -> String {
    let metadata = cargo_metadata(features);
    let packages = metadata["packages"].as_array().expect("cargo metadata lists packages");
    let nodes = metadata["resolve"]["nodes"].as_array().expect("cargo metadata has a resolve graph");
    let name_version = |id: &str| {
        let p = packages.iter().find(|p| p["id"] == id).expect("a resolved package is listed");
        (p["name"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string())
    };
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let mut rows = String::new();
    for node in nodes {
        let (name, version) = name_version(node["id"].as_str().unwrap());
        let compiled = |d: &&serde_json::Value| d["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"] != "dev"));
        let deps = node["deps"].as_array().map(Vec::as_slice).unwrap_or_default();
        let idx: Vec<String> =
            deps.iter().filter(compiled).filter_map(|d| ids.iter().position(|id| d["pkg"] == *id).map(|i| i.to_string())).collect();
        let version = match path_digests.get(&name) {
            Some(digest) => format!("{version}+{digest}"),
            None => version,
        };
        rows.push_str(&format!("    ({name:?}, {version:?}, &[{}]),\n", idx.join(", ")));
    }
    format!("&[\n{rows}]")
}

/// `cargo metadata` for this target and `features`, offline and from the
/// lock file as it is.
fn cargo_metadata(features: &[String]) -> serde_json::Value {
    let mut cargo = std::process::Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["metadata", "--format-version", "1", "--offline", "--locked", "--no-default-features"]);
    cargo.args(["--filter-platform", &env::var("TARGET").expect("cargo sets TARGET")]);
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    let out = cargo.output().expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("parse cargo metadata")
}
