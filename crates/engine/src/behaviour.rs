//! Sources keyed by what they compute, not by how they read. A stage whose
//! code closure reaches them enters its key with the digests of their
//! outputs on a fixed battery, computed here (`Environment::kernels`),
//! and their files leave its code version; so a refactor, a moved file or
//! a faster kernel that gives the same bytes keeps every key, and one
//! that changes a bit of any output moves the keys of the stages that
//! run that shape. Everything else stays keyed by its tokens.

use crate::stage::Upstream;
use std::collections::BTreeMap;

/// `kernel at shape -> sha256 of its outputs on the battery`.
pub type KernelPrints = BTreeMap<String, String>;

/// What the domain supplies to key its kernels by behaviour.
pub trait BehaviourKeys: Send + Sync {
    /// Path prefix of the files keyed by behaviour (`src/kernels/`).
    fn prefix(&self) -> &str;

    /// The prints of every kernel, at every shape, that a stage of `kind`
    /// with `params` (ancestors' in `upstream`) runs on this machine's
    /// compute path; `None` where the battery does not cover the stage (a
    /// kind or backend it does not know), which then stays keyed by the
    /// files' tokens.
    fn prints(&self, kind: &str, params: &toml::Table, upstream: &[Upstream]) -> anyhow::Result<Option<KernelPrints>>;
}

/// How a plan keys the files under the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScheme {
    /// By their tokens, as every key was before kernel fingerprints (the
    /// scheme a carried entry's old key is recomputed in).
    Tokens,
    /// By behaviour wherever `BehaviourKeys::prints` covers the stage.
    Behaviour,
}

/// `files` without those under `prefix`.
pub fn without_prefix(files: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    files.iter().filter(|(path, _)| !path.starts_with(prefix)).map(|(p, d)| (p.clone(), d.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_under_the_prefix_leave() {
        let files: BTreeMap<String, String> = [("src/kernels/conv/mod.rs", "a"), ("src/kernels.rs", "b"), ("src/model/cnn.rs", "c")]
            .map(|(p, d)| (p.into(), d.into()))
            .into();
        let kept: Vec<String> = without_prefix(&files, "src/kernels/").into_keys().collect();
        assert_eq!(kept, vec!["src/kernels.rs", "src/model/cnn.rs"]);
    }
}
