//! Dependency cycles among named stages; used while a pipeline is still
//! being checked, so it knows nothing of `Pipeline`.

use std::collections::BTreeMap;

/// A dependency cycle as stage names, first repeated at the end.
pub fn find_cycle<'a>(stages: &[(&'a str, &'a [String])]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let deps: BTreeMap<&str, Vec<&str>> = stages.iter().map(|(name, on)| (*name, on.iter().map(String::as_str).collect())).collect();
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
    for (name, _) in stages {
        if let Some(c) = visit(name, &deps, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}
