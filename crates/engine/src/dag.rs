//! Order of stages, the closure a target needs, and DAG renderings.

use crate::pipeline::Pipeline;
use std::collections::BTreeSet;

/// All stages in an order where each comes after its dependencies; ties
/// keep declaration order so output is stable.
pub fn topological_order(pipeline: &Pipeline) -> Vec<String> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < pipeline.stages.len() {
        let next = pipeline
            .stages
            .iter()
            .find(|s| !done.contains(s.name.as_str()) && s.depends_on.iter().all(|d| done.contains(d.as_str())))
            .expect("pipeline was checked for cycles");
        done.insert(&next.name);
        order.push(next.name.clone());
    }
    order
}

/// `targets` and everything they depend on, in topological order.
pub fn closure(pipeline: &Pipeline, targets: &[String]) -> Vec<String> {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = targets.to_vec();
    while let Some(name) = todo.pop() {
        if needed.insert(name.clone())
            && let Some(stage) = pipeline.stage(&name)
        {
            todo.extend(stage.depends_on.iter().cloned());
        }
    }
    topological_order(pipeline).into_iter().filter(|s| needed.contains(s)).collect()
}

/// Stages `name` depends on, directly or not.
pub fn ancestors(pipeline: &Pipeline, name: &str) -> Vec<String> {
    closure(pipeline, &[name.to_string()]).into_iter().filter(|s| s != name).collect()
}

/// `name`'s ancestors, nearest first, as `(stage, kind, parameters)` with
/// the parameters `params` gives each: what `StageKind::check_upstream`
/// is shown.
pub fn upstream_tables(
    pipeline: &Pipeline,
    name: &str,
    params: impl Fn(&crate::pipeline::StageDecl) -> toml::Table,
) -> Vec<(String, String, toml::Table)> {
    let declared = |a: &String| pipeline.stage(a).expect("ancestors are declared");
    ancestors(pipeline, name).into_iter().rev().map(|a| (a.clone(), declared(&a).kind.clone(), params(declared(&a)))).collect()
}

/// One line a stage: `name (kind) <- deps`.
pub fn render_text(pipeline: &Pipeline) -> String {
    let mut out = String::new();
    for name in topological_order(pipeline) {
        let stage = pipeline.stage(&name).expect("ordered names are declared");
        let deps = if stage.depends_on.is_empty() { String::new() } else { format!(" <- {}", stage.depends_on.join(", ")) };
        out.push_str(&format!("{name} ({}){deps}\n", stage.kind));
    }
    out
}

/// Graphviz dot.
pub fn render_dot(pipeline: &Pipeline) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n");
    for name in topological_order(pipeline) {
        let stage = pipeline.stage(&name).expect("ordered names are declared");
        out.push_str(&format!("  \"{name}\" [label=\"{name}\\n({})\"];\n", stage.kind));
        for dep in &stage.depends_on {
            out.push_str(&format!("  \"{dep}\" -> \"{name}\";\n"));
        }
    }
    out.push_str("}\n");
    out
}
