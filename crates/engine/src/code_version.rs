//! A kind's code version, derived rather than typed: the closure of source
//! files its entry modules reach (child modules, paths into the crate,
//! imported names followed through re-exports, `include_str!`), hashed over
//! their tokens, plus the crates and compiler those files were built with.

use super::hashing::sha256_hex;
use std::collections::{BTreeMap, BTreeSet};

/// One source file as `build.rs` saw it (paths are `a::b::Item`).
#[derive(Clone, Copy, Debug)]
pub struct SourceRow {
    pub path: &'static str,
    /// sha256 of the file's tokens (Rust) or bytes (anything else).
    pub digest: &'static str,
    /// The module path of a Rust file under `src/` (`""` for the crate root).
    pub module: Option<&'static str>,
    /// Files of the child modules it declares.
    pub mods: &'static [&'static str],
    /// `(backend, file)` of the child modules it declares under a
    /// backend's feature (`gated.rs`): in that backend's closures only.
    pub gated: &'static [(&'static str, &'static str)],
    pub paths: &'static [&'static str],
    pub bindings: &'static [(&'static str, &'static str)],
    pub crates: &'static [&'static str],
    pub includes: &'static [&'static str],
    pub envs: &'static [&'static str],
}

impl SourceRow {
    /// A Rust file that refers to nothing: the start of a hand-made row.
    pub const fn module_file(path: &'static str, module: &'static str, digest: &'static str) -> SourceRow {
        SourceRow {
            path,
            digest,
            module: Some(module),
            mods: &[],
            gated: &[],
            paths: &[],
            bindings: &[],
            crates: &[],
            includes: &[],
            envs: &[],
        }
    }
}

/// A resolved crate graph: `(name, version, indices of dependencies)`.
pub type CrateGraph<'a> = &'a [(&'a str, &'a str, &'a [usize])];

/// The compiled program as seen by code versions: its sources, direct
/// dependencies (`crate ident, package, Cargo.toml spec`) and locked crates.
#[derive(Clone, Copy)]
pub struct SourceTree<'a> {
    pub sources: &'a [SourceRow],
    pub direct_deps: &'a [(&'a str, &'a str, &'a str)],
    /// The crates compiled without any backend feature: what a stage on
    /// the default backend is built from.
    pub locked: CrateGraph<'a>,
    /// `(backend, graph)` for each backend feature compiled in: the whole
    /// build's graph, walked for stages whose compute path names that
    /// backend. So enabling a backend feature moves only that backend's keys.
    pub backends: &'a [(&'a str, CrateGraph<'a>)],
    pub package_version: &'a str,
    /// `rustc -V` of the compiler that built it.
    pub rustc: &'a str,
}

/// What a kind's code is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closure {
    /// `path -> digest` of every file reached.
    pub files: BTreeMap<String, String>,
    /// External crates named by those files (as used in code).
    pub crates: BTreeSet<String>,
    /// Compile-time variables those files read (`CARGO_PKG_VERSION`).
    pub envs: BTreeSet<String>,
}

impl Closure {
    /// The code version: sha256 over the kind and each file's path and digest.
    pub fn version(&self, kind: &str) -> String {
        let mut text = format!("kind {kind}\n");
        for (path, digest) in &self.files {
            text.push_str(&format!("{path} {digest}\n"));
        }
        sha256_hex(text.as_bytes())
    }
}

impl<'a> SourceTree<'a> {
    /// The tree as a stage on `backend` sees it: that backend's crate graph
    /// when its feature is compiled in, else the backend-free one.
    pub fn for_backend(&self, backend: Option<&str>) -> SourceTree<'a> {
        let graph = self.backends.iter().find(|(name, _)| Some(*name) == backend).map(|(_, graph)| *graph);
        SourceTree { locked: graph.unwrap_or(self.locked), ..*self }
    }

    /// Every file of a gated module (its own and its descendants'), with
    /// the backend that compiles it.
    fn gated_files(&self) -> BTreeMap<&'a str, &'a str> {
        let mut out = BTreeMap::new();
        let mut stack: Vec<(&'a str, &'a str)> = self.sources.iter().flat_map(|r| r.gated.iter().map(|&(b, f)| (f, b))).collect();
        while let Some((file, backend)) = stack.pop() {
            if out.insert(file, backend).is_none()
                && let Some(row) = self.row(file)
            {
                stack.extend(row.mods.iter().chain(row.gated.iter().map(|(_, f)| f)).map(|f| (*f, backend)));
            }
        }
        out
    }

    fn row(&self, path: &str) -> Option<&'a SourceRow> {
        self.sources.iter().find(|r| r.path == path)
    }

    fn module_file(&self, module: &[&str]) -> Option<&'a SourceRow> {
        let name = module.join("::");
        // The binary's root shares the empty path with the library's.
        self.sources.iter().find(|r| r.module == Some(name.as_str()) && r.path != "src/main.rs")
    }

    /// The closure of `entries` (module paths such as `stages::train`).
    /// An entry brings its child modules; a file reached by a path brings
    /// what it refers to, not every module it declares. No backend's gated
    /// modules are in it.
    pub fn closure(&self, entries: &[&str]) -> Result<Closure, String> {
        self.closure_on(entries, None)
    }

    /// The closure of `entries` for a stage on `backend`: with the modules
    /// gated by that backend's feature, without any other backend's.
    pub fn closure_on(&self, entries: &[&str], backend: Option<&str>) -> Result<Closure, String> {
        let barred = self.gated_files().into_iter().filter(|(_, b)| Some(*b) != backend).map(|(path, _)| path).collect();
        let mut walk = Walk { tree: *self, backend, barred, out: Closure::default(), pending: Vec::new() };
        for entry in entries {
            let segs: Vec<&str> = entry.split("::").filter(|s| !s.is_empty()).collect();
            let row = self.module_file(&segs).ok_or_else(|| format!("entry module `{entry}` is not a file under src/"))?;
            walk.entry(row);
        }
        while let Some(row) = walk.pending.pop() {
            walk.follow(row);
        }
        Ok(walk.out)
    }

    /// `package -> version` of every locked crate reachable from the
    /// closure's crates (several versions of one crate joined by `, `), and
    /// `package -> Cargo.toml spec` of the direct ones.
    pub fn crate_versions(&self, closure: &Closure) -> BTreeMap<String, String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = Vec::new();
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (ident, package, spec) in self.direct_deps {
            if closure.crates.contains(*ident) {
                out.entry(format!("{package} (Cargo.toml)")).or_default().insert(spec.to_string());
                stack.extend(self.locked.iter().position(|(n, _, _)| n == package));
            }
        }
        while let Some(i) = stack.pop() {
            if seen.insert(i) {
                let (name, version, deps) = self.locked[i];
                out.entry(name.to_string()).or_default().insert(version.to_string());
                stack.extend(deps.iter().copied());
            }
        }
        if closure.envs.iter().any(|e| e.starts_with("CARGO_PKG_")) {
            out.entry("repro".into()).or_default().insert(self.package_version.to_string());
        }
        out.into_iter().map(|(k, v)| (k, v.into_iter().collect::<Vec<_>>().join(", "))).collect()
    }
}

struct Walk<'a> {
    tree: SourceTree<'a>,
    backend: Option<&'a str>,
    /// Files of modules gated by another backend's feature.
    barred: BTreeSet<&'a str>,
    out: Closure,
    pending: Vec<&'a SourceRow>,
}

impl<'a> Walk<'a> {
    fn add(&mut self, row: &'a SourceRow) -> bool {
        let fresh = !self.out.files.contains_key(row.path) && !self.barred.contains(row.path);
        if fresh {
            self.out.files.insert(row.path.to_string(), row.digest.to_string());
            self.pending.push(row);
        }
        fresh
    }

    fn entry(&mut self, row: &'a SourceRow) {
        if self.barred.contains(row.path) {
            return;
        }
        self.add(row);
        let backend = self.backend;
        let gated = row.gated.iter().filter(move |(b, _)| Some(*b) == backend).map(|(_, f)| f);
        for child in row.mods.iter().chain(gated) {
            if let Some(c) = self.tree.row(child) {
                self.entry(c);
            }
        }
    }

    fn follow(&mut self, row: &'a SourceRow) {
        self.out.crates.extend(row.crates.iter().map(|c| c.to_string()));
        self.out.envs.extend(row.envs.iter().map(|e| e.to_string()));
        for inc in row.includes {
            if let Some(r) = self.tree.row(inc) {
                self.add(r);
            }
        }
        for path in row.paths {
            self.resolve(path, 0);
        }
    }

    /// Adds the file that defines `path`'s item, looking through re-exports.
    fn resolve(&mut self, path: &str, depth: usize) {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        for i in (0..=segs.len()).rev() {
            let Some(file) = self.tree.module_file(&segs[..i]) else { continue };
            if let Some(name) = segs.get(i)
                && let Some((_, target)) = file.bindings.iter().find(|(n, _)| n == name)
                && depth < 16
            {
                let rest = &segs[i + 1..];
                let next = std::iter::once(*target).chain(rest.iter().copied()).collect::<Vec<_>>().join("::");
                self.resolve(&next, depth + 1);
                return;
            }
            self.add(file);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: CrateGraph = &[("burn", "0.22.1", &[1]), ("burn-flex", "0.22.1", &[])];
    const WITH_WGPU: CrateGraph = &[("burn", "0.22.1", &[1, 2]), ("burn-flex", "0.22.1", &[]), ("wgpu", "26.0.1", &[])];

    fn tree() -> SourceTree<'static> {
        const ROWS: &[SourceRow] = &[SourceRow { crates: &["burn"], ..SourceRow::module_file("src/lib.rs", "", "d") }];
        SourceTree {
            sources: ROWS,
            direct_deps: &[("burn", "burn", "\"0.22.1\"")],
            locked: BASE,
            backends: &[("vulkan", WITH_WGPU)],
            package_version: "0.1.0",
            rustc: "rustc",
        }
    }

    #[test]
    fn a_stage_walks_the_graph_of_its_backend() {
        let tree = tree();
        let closure = tree.closure(&[""]).unwrap();
        let flex = tree.for_backend(Some("flex")).crate_versions(&closure);
        let vulkan = tree.for_backend(Some("vulkan")).crate_versions(&closure);
        assert!(!flex.contains_key("wgpu") && flex.contains_key("burn-flex"), "{flex:?}");
        assert_eq!(vulkan.get("wgpu").map(String::as_str), Some("26.0.1"), "{vulkan:?}");
        assert_eq!(tree.for_backend(None).crate_versions(&closure), flex);
    }

    fn row(path: &'static str, module: &'static str) -> SourceRow {
        SourceRow::module_file(path, module, path)
    }

    /// lib.rs declares `gpu` under the vulkan feature; `train` names an
    /// item of it (as a gated statement would), `gpu` has a child.
    fn gated_tree() -> SourceTree<'static> {
        let rows = vec![
            SourceRow { gated: &[("vulkan", "src/gpu/mod.rs")], ..row("src/lib.rs", "") },
            SourceRow { paths: &["gpu::f"], ..row("src/train.rs", "train") },
            SourceRow { mods: &["src/gpu/loop.rs"], ..row("src/gpu/mod.rs", "gpu") },
            row("src/gpu/loop.rs", "gpu::loop"),
        ];
        SourceTree { sources: Box::leak(rows.into_boxed_slice()), ..tree() }
    }

    #[test]
    fn a_gated_module_is_in_its_backend_s_closures_only() {
        let tree = gated_tree();
        let files = |entries: &[&str], backend| tree.closure_on(entries, backend).unwrap().files.into_keys().collect::<Vec<_>>();
        assert_eq!(files(&["train"], Some("flex")), ["src/train.rs"]);
        assert_eq!(files(&["train"], None), ["src/train.rs"]);
        assert_eq!(files(&["train"], Some("vulkan")), ["src/gpu/mod.rs", "src/train.rs"]);
        assert_eq!(files(&["gpu"], Some("vulkan")), ["src/gpu/loop.rs", "src/gpu/mod.rs"]);
        assert!(files(&["gpu"], Some("flex")).is_empty());
    }
}
