//! What a stage kind's inputs must be, checked when the pipeline loads: a
//! stage wired to the wrong kind (`tsne` depending on a `train`) is an
//! error at its `depends_on`, with file:line:column, not hours later when
//! the stage runs. The kinds declare their rules (`InputRule`); the engine
//! only checks them.

use crate::pipeline::{ConfigError, Pipeline};

/// How many direct inputs of a kind a stage needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    ExactlyOne,
    AtLeastOne,
}

/// The direct inputs a stage of `kind` needs, and the kinds it accepts.
#[derive(Clone, Copy, Debug)]
pub struct InputRule {
    pub kind: &'static str,
    pub needs: &'static [(&'static str, Count)],
    /// `None`: any kind may be an input besides the needed ones.
    pub accepts: Option<&'static [&'static str]>,
}

impl InputRule {
    fn accepts(&self, kind: &str) -> bool {
        self.needs.iter().any(|(k, _)| *k == kind) || self.accepts.is_none_or(|a| a.contains(&kind))
    }

    /// The first way `inputs` (direct dependencies' kinds) break the rule.
    fn violation(&self, inputs: &[&str]) -> Option<String> {
        if let Some(odd) = inputs.iter().find(|k| !self.accepts(k)) {
            return Some(format!("a `{}` stage cannot take a `{odd}` stage as input; it takes {}", self.kind, self.describe()));
        }
        for (kind, count) in self.needs {
            let n = inputs.iter().filter(|k| *k == kind).count();
            let wrong = match count {
                Count::ExactlyOne => n != 1,
                Count::AtLeastOne => n == 0,
            };
            if wrong {
                return Some(format!("a `{}` stage needs {}; it has {n} `{kind}` input(s)", self.kind, self.describe()));
            }
        }
        None
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .needs
            .iter()
            .map(|(k, c)| match c {
                Count::ExactlyOne => format!("exactly one `{k}` stage"),
                Count::AtLeastOne => format!("one or more `{k}` stages"),
            })
            .collect();
        match self.accepts {
            Some([]) | None if parts.is_empty() => parts.push("no input".into()),
            Some(extra) if !extra.is_empty() => {
                parts.push(format!("optionally {}", extra.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")))
            }
            _ => {}
        }
        parts.join(" and ")
    }
}

impl Pipeline {
    /// Checks every stage's direct inputs against its kind's rule; the
    /// error points at the stage's `depends_on` (or the stage, without one).
    pub fn check_inputs(&self, rules: &[InputRule]) -> Result<(), ConfigError> {
        for stage in &self.stages {
            let Some(rule) = rules.iter().find(|r| r.kind == stage.kind) else { continue };
            let inputs: Vec<&str> = stage.depends_on.iter().filter_map(|d| self.stage(d)).map(|d| d.kind.as_str()).collect();
            if let Some(problem) = rule.violation(&inputs) {
                let span = stage.depends_spans.first().cloned().unwrap_or(stage.span.clone());
                return Err(self.located_error(
                    span,
                    format!("stage `{}`: {problem}", stage.name),
                    "fix its depends_on; `repro dag` shows the graph".to_string(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSNE: InputRule = InputRule { kind: "tsne", needs: &[("features", Count::ExactlyOne)], accepts: Some(&[]) };

    #[test]
    fn a_rule_names_what_is_wrong() {
        assert_eq!(TSNE.violation(&["features"]), None);
        assert!(TSNE.violation(&["train"]).unwrap().contains("cannot take a `train` stage"));
        assert!(TSNE.violation(&[]).unwrap().contains("exactly one `features` stage"));
        assert!(TSNE.violation(&["features", "features"]).unwrap().contains("it has 2"));
    }
}
