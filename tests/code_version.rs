//! Derived code versions: every kind's closure of source files, checked
//! against the files its modules import; token digests that ignore
//! comments and formatting; and the heatmap case end to end.

mod common;

use repro_engine::code_version::{SourceRow, SourceTree};
use repro_engine::source_scan::{canonical, one_line, tokenize};
use repro_engine::{BuildOptions, Engine, Pipeline, State};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kinds() -> Vec<(String, &'static [&'static str])> {
    let registry = repro::stages::registry();
    registry.names().map(|n| (n.clone(), registry.get(n).unwrap().entry_modules())).collect()
}

/// The compiled tree with one file's digest replaced.
fn with_digest(path: &str, digest: &'static str) -> SourceTree<'static> {
    let tree = repro::compiled_sources();
    let rows: Vec<SourceRow> = tree.sources.iter().map(|r| if r.path == path { SourceRow { digest, ..*r } } else { *r }).collect();
    assert!(rows.iter().any(|r| r.path == path), "{path} is not a compiled source");
    SourceTree { sources: Box::leak(rows.into_boxed_slice()), ..tree }
}

#[test]
fn every_file_in_a_closure_moves_its_code_version() {
    let tree = repro::compiled_sources();
    let mut files_checked = BTreeSet::new();
    for (kind, entries) in kinds() {
        let closure = tree.closure(entries).unwrap();
        assert!(closure.files.len() > 1, "kind {kind}: closure {:?}", closure.files);
        let version = closure.version(&kind);
        for path in closure.files.keys() {
            let changed = with_digest(path, "changed").closure(entries).unwrap();
            assert_ne!(changed.version(&kind), version, "kind {kind}: a change in {path} must change its code version");
            files_checked.insert(path.clone());
        }
    }
    println!("{} kinds, {} distinct files checked", kinds().len(), files_checked.len());
}

/// The files a `crate::a::b::…` path could live in: the longest module
/// prefix that is a file, or any file under that module's folder (when it
/// is re-exported there).
fn candidates(segs: &[&str]) -> Vec<String> {
    for i in (1..=segs.len()).rev() {
        let base = format!("src/{}", segs[..i].join("/"));
        let (file, folder) = (format!("{base}.rs"), format!("{base}/mod.rs"));
        if root().join(&file).is_file() {
            return vec![file];
        }
        if root().join(&folder).is_file() {
            let mut all: Vec<String> = walkdir::WalkDir::new(root().join(&base))
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| e.path().strip_prefix(root()).unwrap().to_string_lossy().into_owned())
                .collect();
            all.sort();
            return all;
        }
    }
    vec!["src/lib.rs".into()]
}

/// `use crate::x::y::{…}` lines, read with a plain text scan (independent
/// of the tokenizer under test).
fn crate_imports(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("use crate::").or_else(|| line.strip_prefix("pub use crate::")) else { continue };
        let path: Vec<String> =
            rest.split("::").take_while(|s| s.chars().all(|c| c.is_alphanumeric() || c == '_')).map(String::from).collect();
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_closure_holds_every_file_its_modules_import() {
    let tree = repro::compiled_sources();
    let mut imports = 0;
    for (kind, entries) in kinds() {
        let closure = tree.closure(entries).unwrap();
        for path in closure.files.keys().filter(|p| p.ends_with(".rs")) {
            let text = std::fs::read_to_string(root().join(path)).unwrap();
            for import in crate_imports(&text) {
                let segs: Vec<&str> = import.iter().map(String::as_str).collect();
                let options = candidates(&segs);
                assert!(
                    options.iter().any(|c| closure.files.contains_key(c)),
                    "kind {kind}: {path} imports crate::{} but none of {options:?} is in its closure",
                    import.join("::")
                );
                imports += 1;
            }
        }
    }
    assert!(imports > 50, "only {imports} imports seen");
}

#[test]
fn the_holes_of_the_typed_lists_are_covered() {
    let tree = repro::compiled_sources();
    let closure = |entry: &str| tree.closure(&[entry]).unwrap();
    let figures = closure("stages::figures");
    assert!(figures.files.contains_key("src/gradcam/heatmap.rs"), "figures colours Figure 6 with the heatmap: {:?}", figures.files.keys());
    let report = closure("stages::report");
    assert!(report.files.contains_key("src/lib.rs"), "the report renders crate::BACKEND");
    assert!(tree.crate_versions(&report).contains_key("repro"), "the report renders the package version");
    let train = closure("stages::train");
    let crates = tree.crate_versions(&train);
    assert_eq!(crates.get("burn").map(String::as_str), Some("0.22.1"), "{crates:?}");
    assert!(crates.contains_key("burn-flex") && crates.contains_key("gemm"), "transitive crates are in the key: {crates:?}");
    assert!(!train.files.contains_key("src/gradcam/heatmap.rs"), "training does not reach the colour map");
    assert!(!train.files.keys().any(|p| p.starts_with("src/figures/")), "training does not reach the figures");
}

#[test]
fn comments_and_layout_are_not_tokens() {
    let code = "fn f(x: u32) -> u32 { x + 1 } // one\n";
    let commented = "/// Adds one.\nfn f(\n    x: u32 /* the input */\n) -> u32 {\n    x + 1\n}\n";
    let changed = "fn f(x: u32) -> u32 { x + 2 }";
    assert_eq!(canonical(&tokenize(code)), canonical(&tokenize(commented)));
    assert_ne!(canonical(&tokenize(code)), canonical(&tokenize(changed)));
    let same = |a: &str, b: &str| canonical(&tokenize(a)) == canonical(&tokenize(b));
    assert!(same("f(a, b,)", "f(a, b)") && same("[1, 2,]", "[1, 2]") && same("S { a, }", "S { a }") && same("g(x,)", "g(x)"));
    assert!(!same("let t = (x,);", "let t = (x);"), "a one-element tuple keeps its comma");
    assert!(same("a.map(|x| { x + 1 })", "a.map(|x| x + 1)"), "a closure's one expression, braced or not");
    assert!(!same("a.map(|x| { f(x); x })", "a.map(|x| f(x); x)"), "a closure with statements keeps its block");
    assert!(!same("fn f() -> (u8,) {}", "fn f() -> (u8) {}"));
    assert!(!same("let t = (vec![a, b],);", "let t = (vec![a, b]);"), "commas inside a nested group do not count");
    let strings = [r#"let s = "a // not a comment";"#, r#"let s = "a /* b */";"#, r##"let s = r#"x"#;"##, "let c = '\"';"];
    for s in strings {
        let toks = tokenize(s);
        assert!(toks.iter().filter(|t| matches!(t, repro_engine::source_scan::Tok::Lit(_))).count() == 1, "{s}: {toks:?}");
    }
}

/// rustfmt over standard input (so `mod x;` is not followed), with the
/// rustfmt.toml in `dir`.
fn rustfmt(dir: &Path, text: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().unwrap().write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every file put on one line without its comments, then formatted with
/// the project's rustfmt.toml: `cargo fmt` after the worst layout moves no
/// token digest.
#[test]
fn rustfmt_keeps_every_token_digest() {
    if std::process::Command::new("rustfmt").arg("--version").output().is_err() {
        println!("skipped: rustfmt is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("rustfmt.toml"), dir.path().join("rustfmt.toml")).unwrap();
    let mut checked = 0;
    for row in repro::compiled_sources().sources.iter().filter(|r| r.path.ends_with(".rs")) {
        let text = std::fs::read_to_string(root().join(row.path)).unwrap();
        let squashed = one_line(&text);
        assert_eq!(canonical(&tokenize(&squashed)), canonical(&tokenize(&text)), "{}", row.path);
        let formatted = rustfmt(dir.path(), &squashed).unwrap_or_else(|e| panic!("rustfmt failed on {} put on one line: {e}", row.path));
        assert_eq!(canonical(&tokenize(&formatted)), canonical(&tokenize(&text)), "{}", row.path);
        checked += usize::from(formatted.lines().count() > 1);
    }
    assert!(checked > 50, "only {checked} files were reflowed");
}

/// Colour map edited: figures reruns for its code, every training stays fresh.
#[test]
fn a_colour_map_change_makes_figures_stale_and_no_training() {
    let dir = common::project_copy();
    let kinds = repro::stages::registry();
    let pipeline = Pipeline::load(&dir.path().join("pipeline.toml"), &kinds).unwrap();
    let engine = |sources| Engine::new(&pipeline, &kinds, sources, "smoke", std::sync::Arc::new(repro_engine::events::Quiet)).threads(2);
    engine(repro::compiled_sources()).build(&BuildOptions { targets: vec!["figures".into()], ..Default::default() }).unwrap();
    let states: BTreeMap<String, State> = engine(with_digest("src/gradcam/heatmap.rs", "recoloured"))
        .status(&["figures".into()], &BTreeSet::new())
        .unwrap()
        .into_iter()
        .map(|o| (o.stage, o.state))
        .collect();
    assert_eq!(
        states["figures"],
        State::Stale(vec![repro_engine::Reason::CodeChanged(vec!["src/gradcam/heatmap.rs".into()])]),
        "{states:?}"
    );
    for (stage, state) in &states {
        if stage.starts_with("train_") || stage == "data" {
            assert_eq!(*state, State::Fresh, "{stage}");
        }
    }
}

#[test]
fn the_scanner_reads_paths_imports_and_macros() {
    use repro_engine::source_scan::scan;
    let text = r#"
        mod child;
        use super::sibling::{Thing, helper as h};
        use crate::a::{self, b::C};
        use burn::tensor::Tensor;
        const T: &str = include_str!("../../templates/x.j2");
        fn f() -> Tensor<1> {
            crate::deep::er::path::item();
            a::inner::g();
            child::k();
            h(env!("CARGO_PKG_VERSION"));
        }
        mod simd {
            use super::super::lanes::mask;
        }
    "#;
    let module: Vec<String> = vec!["stages".into(), "me".into()];
    let externs: BTreeSet<String> = ["burn".to_string()].into();
    let refs = scan(&tokenize(text), &module, &externs);
    let paths: BTreeSet<String> = refs.paths.iter().map(|p| p.join("::")).collect();
    for want in [
        "stages::lanes::mask",
        "stages::sibling::Thing",
        "stages::sibling::helper",
        "a",
        "a::b::C",
        "deep::er::path::item",
        "a::inner::g",
        "stages::me::child::k",
    ] {
        assert!(paths.contains(want), "{want} missing from {paths:?}");
    }
    assert_eq!(refs.mods, vec!["child"]);
    assert!(refs.bindings.contains(&("h".to_string(), vec!["stages".into(), "sibling".into(), "helper".into()])));
    assert_eq!(refs.crates.iter().collect::<Vec<_>>(), vec!["burn"]);
    assert_eq!(refs.includes.iter().collect::<Vec<_>>(), vec!["../../templates/x.j2"]);
    assert!(refs.envs.contains("CARGO_PKG_VERSION"));
}

/// The train kind's crates as a stage on `backend` keys them.
fn train_crates(backend: Option<&str>) -> BTreeMap<String, String> {
    let tree = repro::compiled_sources();
    let registry = repro::stages::registry();
    let closure = tree.closure(registry.get("train").unwrap().entry_modules()).unwrap();
    tree.for_backend(backend).crate_versions(&closure)
}

#[test]
fn a_backend_feature_enters_only_its_own_backends_keys() {
    let flex = train_crates(Some("flex"));
    assert!(flex.contains_key("burn-flex") && flex.contains_key("burn"), "flex keys carry burn: {flex:?}");
    let vulkan = train_crates(Some("vulkan"));
    if cfg!(feature = "vulkan") {
        let added: Vec<&String> = vulkan.keys().filter(|name| !flex.contains_key(*name)).collect();
        println!("crates in Vulkan keys only: {added:?}");
        assert!(!added.is_empty(), "the feature's crates enter the Vulkan stages' keys");
        assert!(flex.iter().all(|(name, version)| vulkan.get(name) == Some(version)), "the Vulkan graph holds flex's crates");
    } else {
        assert_eq!(vulkan, flex, "without the feature no backend has a graph of its own");
    }
}
