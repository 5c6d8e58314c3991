//! Why a stage is stale, as facts: decided once where the plan is
//! compared with the record, shown as text only when printed.

use std::fmt;

/// One reason a stage must run (or be restored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    NeverBuilt,
    /// `--force` or `--force-all`.
    Forced,
    /// Files of the kind's code closure that differ, were added or removed.
    CodeChanged(Vec<String>),
    /// `rustc` releases (or whole version lines when the releases agree).
    ToolchainChanged {
        from: String,
        to: String,
    },
    DependencyChanged(Vec<Change>),
    ComputePathChanged(Vec<Change>),
    /// Kernels (at the named shapes) whose outputs on the battery differ,
    /// were added or dropped (`behaviour.rs`).
    KernelsChanged(Vec<String>),
    /// The record predates kernel fingerprints: its key covered the
    /// kernels' tokens.
    KernelsNowByBehaviour,
    ParamsChanged(Vec<Change>),
    /// File parameters whose content changed.
    InputFileChanged(Vec<String>),
    /// Upstream stages whose outputs changed.
    InputChanged(Vec<String>),
    /// Upstream stages whose shown label changed.
    InputRenamed(Vec<String>),
    /// The key moved for a reason none of the above names.
    FingerprintChanged,
    /// Recorded outputs missing from the store or not matching their digest.
    OutputsDamaged(Vec<String>),
    /// Slurm: decided in its job, after an upstream stage's job.
    UpstreamRunsFirst,
}

/// `key old -> new`; `None` where a side lacks the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl Change {
    fn show(&self, missing: &str) -> String {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| missing.to_string());
        format!("{} {} -> {}", self.key, side(&self.old), side(&self.new))
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.show("(unset)"))
    }
}

fn joined<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NeverBuilt => f.write_str("never built"),
            Reason::Forced => f.write_str("forced"),
            Reason::CodeChanged(files) => match files.len() {
                0 => f.write_str("code changed"),
                1..=3 => write!(f, "code changed: {}", files.join(", ")),
                n => write!(f, "code changed: {} and {} more files", files[..3].join(", "), n - 3),
            },
            Reason::ToolchainChanged { from, to } => {
                write!(f, "toolchain changed: rustc {} -> {to}", if from.is_empty() { "(unrecorded)" } else { from })
            }
            Reason::DependencyChanged(changes) => {
                let shown: Vec<String> = changes.iter().take(4).map(|c| c.show("(none)")).collect();
                let more = if changes.len() > 4 { format!(" and {} more", changes.len() - 4) } else { String::new() };
                write!(f, "dependency changed: {}{more}", shown.join(", "))
            }
            Reason::ComputePathChanged(changes) => {
                let shown: Vec<String> = changes.iter().map(|c| c.show("(none)")).collect();
                write!(f, "compute path changed: {}", shown.join(", "))
            }
            Reason::KernelsChanged(kernels) => match kernels.len() {
                0..=3 => write!(f, "kernels compute differently: {}", kernels.join(", ")),
                n => write!(f, "kernels compute differently: {} and {} more", kernels[..3].join(", "), n - 3),
            },
            Reason::KernelsNowByBehaviour => f.write_str("kernels now keyed by what they compute (the record keyed their source)"),
            Reason::ParamsChanged(changes) => write!(f, "params changed: {}", joined(changes)),
            Reason::InputFileChanged(keys) => write!(f, "input file changed: {}", keys.join(", ")),
            Reason::InputChanged(stages) => write!(f, "input changed: {}", stages.join(", ")),
            Reason::InputRenamed(stages) => write!(f, "input renamed: {} (a label it shows)", stages.join(", ")),
            Reason::FingerprintChanged => f.write_str("fingerprint changed"),
            Reason::OutputsDamaged(names) => write!(f, "output missing or corrupt: {}", names.join(", ")),
            Reason::UpstreamRunsFirst => f.write_str("an upstream stage runs first"),
        }
    }
}

/// Reasons as one line, `; ` between them.
pub fn list(reasons: &[Reason]) -> String {
    reasons.iter().map(Reason::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_before() {
        let change = |k: &str, a: Option<&str>, b: &str| Change { key: k.into(), old: a.map(String::from), new: Some(b.into()) };
        let files: Vec<String> = (1..=5).map(|i| format!("src/f{i}.rs")).collect();
        let reasons = [
            Reason::CodeChanged(files),
            Reason::ToolchainChanged { from: String::new(), to: "1.96.0".into() },
            Reason::ParamsChanged(vec![change("train_b.lr", Some("0.001"), "0.0005"), change("train_b.x", None, "1")]),
            Reason::ComputePathChanged(vec![change("conv", None, "direct-avx512")]),
        ];
        assert_eq!(
            list(&reasons),
            "code changed: src/f1.rs, src/f2.rs, src/f3.rs and 2 more files; toolchain changed: rustc (unrecorded) -> 1.96.0; \
             params changed: train_b.lr 0.001 -> 0.0005, train_b.x (unset) -> 1; compute path changed: conv (none) -> direct-avx512"
        );
    }
}
