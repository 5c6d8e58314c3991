//! `pipeline.toml` as written: the serde schema, every name and value
//! keeping its position for errors. Nothing here is checked yet.

use crate::pipeline::{Param, Params, RemoteSettings, Resources};
use std::collections::BTreeMap;
use toml::Spanned;

/// A parameter table as written: each value keeps its position.
pub(crate) type RawParams = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPipeline {
    #[serde(default)]
    pub pipeline: RawSettings,
    #[serde(default)]
    pub defaults: BTreeMap<Spanned<String>, RawParams>,
    pub stages: BTreeMap<Spanned<String>, RawStage>,
    #[serde(default)]
    pub profiles: BTreeMap<Spanned<String>, RawProfile>,
    pub remote: Option<RemoteSettings>,
    /// `[resources.KIND]`: what a cluster job of that kind asks for.
    #[serde(default)]
    pub resources: BTreeMap<Spanned<String>, Resources>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettings {
    pub default_profile: Option<Spanned<String>>,
    pub store: Option<String>,
    /// Folder of the committed published numbers, `<profile>.json`.
    pub published: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub kind: Spanned<String>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    pub params: RawParams,
    pub description: Option<String>,
    pub export: Option<String>,
    /// `false`: cheap to rebuild, so `push` leaves its outputs out.
    pub push: Option<bool>,
    /// `{ key = [values] }`: one stage per combination (see `matrix`).
    pub matrix: Option<RawParams>,
    pub resources: Option<Resources>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub description: Option<String>,
    #[serde(default)]
    pub verify_without_training: bool,
    #[serde(default)]
    pub defaults: BTreeMap<Spanned<String>, RawParams>,
    #[serde(default)]
    pub stages: BTreeMap<Spanned<String>, RawParams>,
}

/// Parameters without their names' positions (values keep theirs).
pub(crate) fn params_of(raw: RawParams) -> Params {
    raw.into_iter()
        .map(|(k, v)| {
            let span = v.span();
            (k.into_inner(), Param { value: v.into_inner(), span })
        })
        .collect()
}

/// `{ name = params }` tables (per kind or per stage) the same way.
pub(crate) fn named_params(raw: BTreeMap<Spanned<String>, RawParams>) -> BTreeMap<String, Params> {
    raw.into_iter().map(|(k, v)| (k.into_inner(), params_of(v))).collect()
}
