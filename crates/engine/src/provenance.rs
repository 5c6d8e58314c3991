//! Facts about an upstream stage that its build record holds and no kind
//! declares: the compute path it ran on and its kernel fingerprint. A
//! report shows them beside the stage's key.
//!
//! They travel in `UpstreamInfo::display` under reserved keys rather
//! than as fields of their own: the `api` types' tokens enter every key,
//! so a new field there would move every published model's key. The
//! engine writes them here; a stage reads them in its own (keyed) code.

use super::record::Environment;

/// Reserved display keys. `@` cannot start a bare TOML key, so no kind's
/// display parameter (a pipeline.toml key) can collide with them.
/// The compute path as one line, `backend flex, conv direct-avx512, ...`.
pub const COMPUTE: &str = "@compute";
/// One digest over the stage's kernel prints.
pub const KERNELS: &str = "@kernels";
/// How many kernel shapes those prints cover (an integer).
pub const KERNEL_SHAPES: &str = "@kernel_shapes";

/// The compute path as one line, in its map's (sorted) order.
pub fn compute_line(env: &Environment) -> String {
    env.compute.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// Adds `env`'s compute path and kernel fingerprint to a display table.
pub fn annotate(display: &mut toml::Table, env: &Environment) {
    if !env.compute.is_empty() {
        display.insert(COMPUTE.into(), compute_line(env).into());
    }
    if !env.kernels.is_empty() {
        display.insert(KERNELS.into(), env.kernel_fingerprint().into());
        display.insert(KERNEL_SHAPES.into(), (env.kernels.len() as i64).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn annotate_adds_the_records_facts_beside_the_kinds_own() {
        let env = Environment {
            compute: BTreeMap::from([("backend".into(), "flex".into()), ("conv".into(), "direct-avx512".into())]),
            kernels: BTreeMap::from([("conv forward at 1x3x4x4->2".into(), "ab".into())]),
            ..Default::default()
        };
        let mut display = toml::Table::new();
        display.insert("label".into(), "model c".into());
        annotate(&mut display, &env);
        let text = |k: &str| display.get(k).and_then(|v| v.as_str()).map(str::to_string);
        assert_eq!(text(COMPUTE).as_deref(), Some("backend flex, conv direct-avx512"));
        assert_eq!(text(KERNELS), Some(env.kernel_fingerprint()));
        assert_eq!(display.get(KERNEL_SHAPES).and_then(|v| v.as_integer()), Some(1));
        assert_eq!(text("label").as_deref(), Some("model c"), "a kind's own display keys stay");
    }

    #[test]
    fn a_stage_without_compute_or_prints_gets_nothing() {
        let mut display = toml::Table::new();
        annotate(&mut display, &Environment::default());
        assert!(display.is_empty());
    }
}
