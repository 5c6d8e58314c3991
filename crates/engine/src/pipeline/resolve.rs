//! A stage's effective parameters under a profile: the layers of
//! `pipeline.toml`, later ones winning key by key.

use super::{Params, Pipeline, StageDecl};
use std::collections::BTreeMap;
use std::ops::Range;

/// A stage's effective parameters under one profile, and where each was
/// written.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub table: toml::Table,
    pub spans: BTreeMap<String, Range<usize>>,
}

impl Pipeline {
    /// Effective parameters: kind defaults < stage params < profile kind
    /// defaults < profile stage params (a matrix's, then its member's) <
    /// matrix values.
    pub fn resolve_params(&self, stage: &StageDecl, profile: Option<&str>) -> Resolved {
        let mut resolved = Resolved { table: toml::Table::new(), spans: BTreeMap::new() };
        let mut layer = |params: Option<&Params>| {
            for (k, p) in params.into_iter().flatten() {
                resolved.table.insert(k.clone(), p.value.clone());
                resolved.spans.insert(k.clone(), p.span.clone());
            }
        };
        layer(self.defaults.get(&stage.kind));
        layer(Some(&stage.params));
        let base = stage.matrix.as_ref().map(|(base, _)| base);
        if let Some(p) = profile.and_then(|p| self.profiles.get(p)) {
            layer(p.defaults.get(&stage.kind));
            layer(base.and_then(|b| p.stages.get(b)));
            layer(p.stages.get(&stage.name));
        }
        layer(stage.matrix.as_ref().map(|(_, values)| values));
        resolved
    }
}
