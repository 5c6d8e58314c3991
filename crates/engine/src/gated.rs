//! Child modules compiled only with a backend's cargo feature, declared at
//! file level as `#[cfg(feature = "vulkan")] mod gpu;` (optionally `pub`).
//! Such a module's files enter only the keys of stages on that backend,
//! and the declaration is left out of its file's digest: adding one moves
//! no other backend's key. Only this plain form is recognised; any other
//! `cfg` keeps its tokens in every key, so keys move more often than
//! needed, never less.
//!
//! Standard library only: `build.rs` includes this file with `#[path]`.

use super::source_scan::Tok;
use std::collections::BTreeSet;
use std::ops::Range;

/// One gated declaration: its tokens (attribute included), the feature
/// that compiles it and the child module's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedMod {
    pub tokens: Range<usize>,
    pub feature: String,
    pub name: String,
}

/// The file-level declarations gated by one of `features`.
pub fn gated_mods(tokens: &[Tok], features: &BTreeSet<String>) -> Vec<GatedMod> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth -= 1,
            Tok::Punct('#') if depth == 0 => out.extend(gated_at(tokens, i).filter(|g| features.contains(&g.feature))),
            _ => {}
        }
    }
    out
}

/// The tokens without the gated declarations: what a file's digest covers.
pub fn without(tokens: &[Tok], gated: &[GatedMod]) -> Vec<Tok> {
    tokens.iter().enumerate().filter(|(i, _)| !gated.iter().any(|g| g.tokens.contains(i))).map(|(_, t)| t.clone()).collect()
}

/// `#[cfg(feature = "F")] [pub[(…)]] mod name;` starting at `start`.
fn gated_at(tokens: &[Tok], start: usize) -> Option<GatedMod> {
    let ident = |i: usize, name: &str| matches!(tokens.get(i), Some(Tok::Ident(s)) if s == name);
    let punct = |i: usize, c: char| tokens.get(i) == Some(&Tok::Punct(c));
    let head =
        punct(start + 1, '[') && ident(start + 2, "cfg") && punct(start + 3, '(') && ident(start + 4, "feature") && punct(start + 5, '=');
    let Some(Tok::Lit(quoted)) = tokens.get(start + 6) else { return None };
    if !(head && punct(start + 7, ')') && punct(start + 8, ']')) {
        return None;
    }
    let feature = quoted.strip_prefix('"')?.strip_suffix('"')?.to_string();
    let mut i = start + 9;
    if ident(i, "pub") {
        i += 1;
        if punct(i, '(') {
            i += (i..tokens.len()).position(|j| punct(j, ')'))? + 1;
        }
    }
    let Some(Tok::Ident(name)) = tokens.get(i + 1) else { return None };
    (ident(i, "mod") && punct(i + 2, ';')).then(|| GatedMod { tokens: start..i + 3, feature, name: name.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_scan::{canonical, tokenize};

    fn vulkan() -> BTreeSet<String> {
        BTreeSet::from(["vulkan".to_string()])
    }

    #[test]
    fn a_gated_module_leaves_its_file_s_digest_as_it_was() {
        let before = tokenize("pub mod a;\nfn f() {}\n");
        let after = tokenize("pub mod a;\n#[cfg(feature = \"vulkan\")]\npub(crate) mod gpu;\nfn f() {}\n");
        let gated = gated_mods(&after, &vulkan());
        assert_eq!(gated.len(), 1);
        assert_eq!((gated[0].feature.as_str(), gated[0].name.as_str()), ("vulkan", "gpu"));
        assert_eq!(canonical(&without(&after, &gated)), canonical(&before));
    }

    #[test]
    fn other_cfgs_and_other_features_keep_their_tokens() {
        for src in [
            "#[cfg(feature = \"other\")] mod x;",
            "#[cfg(test)] mod tests;",
            "#[cfg(feature = \"vulkan\")] fn f() {}",
            "#[cfg(all(feature = \"vulkan\", unix))] mod x;",
            "mod m { #[cfg(feature = \"vulkan\")] mod x; }",
        ] {
            assert!(gated_mods(&tokenize(src), &vulkan()).is_empty(), "{src}");
        }
    }
}
