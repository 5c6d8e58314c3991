//! `repro diff`: parameters and numbers of two builds side by side.

use super::Invocation;
use crate::terminal::say;

pub fn diff(at: &Invocation, a: Option<String>, b: Option<String>, json: bool, all: bool) -> anyhow::Result<()> {
    use repro_engine::diff;
    let (pipeline, kinds) = (&at.pipeline, &at.kinds);
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (Some(p), None) => (format!("published:{p}"), p),
        _ => (format!("published:{}", pipeline.default_profile), pipeline.default_profile.clone()),
    };
    let store = repro_engine::store::Store::open(&pipeline.store_dir)?;
    // Published numbers are per compute path: the one a built side ran on,
    // else this machine's.
    let built = [&a, &b].into_iter().find(|n| !n.starts_with("published:")).filter(|n| pipeline.profile(n).is_ok());
    let compute = match built {
        Some(profile) => super::verify::compute_used(&store, profile)?,
        None => kinds.get("train").map(|k| k.compute_path()).unwrap_or_default(),
    };
    let side = |name: &str| -> anyhow::Result<diff::Side> {
        match name.strip_prefix("published:") {
            Some(profile) => {
                pipeline.profile(profile)?;
                diff::published(pipeline, profile, &compute)
            }
            None => {
                pipeline.profile(name)?;
                diff::built(&store, name)
            }
        }
    };
    let (a, b) = (side(&a)?, side(&b)?);
    // Published numbers carry no parameters: then only numbers compare.
    let both = !a.params.is_empty() && !b.params.is_empty();
    let params = if both { diff::rows(&a.params, &b.params, all) } else { Vec::new() };
    let numbers = diff::rows(&a.numbers, &b.numbers, all);
    if json {
        let out = serde_json::json!({ "a": a.name, "b": b.name, "params": params, "numbers": numbers });
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if both {
        print_rows("parameter", &a.name, &b.name, &params, |v: &String| v.clone(), |_, _| String::new());
        say!("");
    }
    print_rows("number", &a.name, &b.name, &numbers, |v: &f64| format!("{v:.4}"), |x, y| format!("{:+.4}", y - x));
    Ok(())
}

/// A table `key | a | b | change`; `(none)` where a side lacks the key.
fn print_rows<T>(
    what: &str,
    a: &str,
    b: &str,
    rows: &[repro_engine::diff::Row<T>],
    show: impl Fn(&T) -> String,
    change: impl Fn(&T, &T) -> String,
) {
    if rows.is_empty() {
        say!("no {what} differs");
        return;
    }
    let cell = |v: &Option<T>| v.as_ref().map_or("(none)".to_string(), &show);
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let delta = match (&r.a, &r.b) {
                (Some(x), Some(y)) => change(x, y),
                _ => String::new(),
            };
            [r.key.clone(), cell(&r.a), cell(&r.b), delta]
        })
        .collect();
    let header = [what.to_string(), a.to_string(), b.to_string(), "change".to_string()];
    let widths: Vec<usize> = (0..4).map(|i| table.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    for row in std::iter::once(&header).chain(table.iter()) {
        say!("{:w0$}  {:>w1$}  {:>w2$}  {}", row[0], row[1], row[2], row[3], w0 = widths[0], w1 = widths[1], w2 = widths[2]);
    }
}
