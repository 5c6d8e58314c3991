//! Order of stages, the closure a target needs, and DAG renderings.

use super::config::Pipeline;
use std::collections::{BTreeMap, BTreeSet};

/// A dependency cycle as stage names, first repeated at the end.
pub fn find_cycle(pipeline: &Pipeline) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let deps: BTreeMap<&str, Vec<&str>> =
        pipeline.stages.iter().map(|s| (s.name.as_str(), s.depends_on.iter().map(String::as_str).collect())).collect();
    let mut marks: BTreeMap<&str, Mark> = deps.keys().map(|k| (*k, Mark::New)).collect();
    fn visit<'a>(
        node: &'a str,
        deps: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(node).copied() {
            Some(Mark::Done) | None => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            Some(Mark::New) => {}
        }
        marks.insert(node, Mark::Open);
        path.push(node);
        for dep in deps.get(node).into_iter().flatten() {
            if let Some(c) = visit(dep, deps, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    for stage in &pipeline.stages {
        if let Some(c) = visit(&stage.name, &deps, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

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
