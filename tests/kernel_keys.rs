//! Kernels keyed by what they compute (issue 33): a refactor keeps every
//! key, a changed summation order moves the keys of the stages that run
//! that shape and names the kernel, a change at a shape no stage runs
//! moves nothing, the battery covers every shape the profiles' stages run,
//! and a remote's entries are carried to the new keys only with proof.

mod common;

use repro::kernel_prints::KernelBattery;
use repro::kernel_prints::probe::{Mode, Probe};
use repro::kernel_prints::runner::{FlexKernels, ProbeRunner, run_flex};
use repro::kernel_prints::workload::{Workload, chunk_sizes};
use repro::model::Cnn;
use repro::model::cnn::{Layer, Value};
use repro_engine::code_version::{SourceRow, SourceTree};
use repro_engine::events::{Event, Progress, ProgressSink, Reporter, Unit};
use repro_engine::runner::PlannedKey;
use repro_engine::{BuildOptions, Engine, KindRegistry, Pipeline, State};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A changed convolution: at the shapes `at` picks, its forward adds the
/// two halves of the input channels separately (another summation order,
/// the same convolution); elsewhere the model's own kernels.
struct Reordered {
    at: fn(&[usize; 4]) -> bool,
}

impl ProbeRunner for Reordered {
    fn id(&self) -> String {
        "conv forward reordered (a test's kernel)".into()
    }
    fn run(&self, probe: &Probe) -> Vec<Vec<f32>> {
        match probe {
            Probe::ConvForward { input, c_out } if (self.at)(input) => reordered_conv(probe, *input, *c_out),
            _ => run_flex(probe),
        }
    }
}

fn reordered_conv(probe: &Probe, input: [usize; 4], c_out: usize) -> Vec<Vec<f32>> {
    use repro::kernel_prints::runner::Inputs;
    use repro::kernels::conv::{ConvDims, forward};
    let device = burn::tensor::Device::flex();
    let at = Inputs::new(probe, &device);
    let [n, c_in, h, w] = input;
    let (x, weight, bias) = (at.vec("x", n * c_in * h * w, 1.0), at.vec("weight", c_out * c_in * 9, 0.25), at.vec("bias", c_out, 1.0));
    let half = c_in.div_ceil(2);
    let part = |channels: std::ops::Range<usize>| {
        let d = ConvDims { n, c_in: channels.len(), c_out, h, w };
        let xs: Vec<f32> =
            (0..n).flat_map(|i| x[(i * c_in + channels.start) * h * w..(i * c_in + channels.end) * h * w].to_vec()).collect();
        let ws: Vec<f32> =
            (0..c_out).flat_map(|o| weight[(o * c_in + channels.start) * 9..(o * c_in + channels.end) * 9].to_vec()).collect();
        forward(&xs, &ws, &vec![0.0; c_out], d, false)
    };
    let (a, b) = (part(0..half), part(half..c_in));
    let plane = h * w;
    let out = (0..a.len()).map(|i| (bias[(i / plane) % c_out] + (a[i] + b[i])).max(0.0)).collect();
    vec![out]
}

fn battery(runner: Arc<dyn ProbeRunner>) -> Arc<KernelBattery> {
    Arc::new(KernelBattery::new(runner, None))
}

fn keys(engine: &Engine) -> BTreeMap<String, PlannedKey> {
    engine.keys(&[]).unwrap().into_iter().map(|k| (k.stage.clone(), k)).collect()
}

fn engine<'a>(pipeline: &'a Pipeline, kinds: &'a KindRegistry, sources: SourceTree<'a>, profile: &str) -> Engine<'a> {
    Engine::new(pipeline, kinds, sources, profile, Arc::new(repro_engine::events::Quiet)).threads(2)
}

fn project() -> (tempfile::TempDir, KindRegistry, Pipeline) {
    let dir = common::project_copy();
    let kinds = repro::stages::registry();
    let pipeline = Pipeline::load(&dir.path().join("pipeline.toml"), &kinds).unwrap();
    (dir, kinds, pipeline)
}

fn train_stages(keys: &BTreeMap<String, PlannedKey>) -> Vec<&String> {
    keys.keys().filter(|s| s.starts_with("train_")).collect()
}

/// Every file under src/kernels/ with other tokens (a renamed function)
/// and one of them moved: the paths of a refactor.
fn refactored_kernels() -> SourceTree<'static> {
    let tree = repro::compiled_sources();
    let moved = |p: &'static str| if p == "src/kernels/pool/portable.rs" { "src/kernels/pool/rows.rs" } else { p };
    let rows: Vec<SourceRow> = tree
        .sources
        .iter()
        .map(|r| {
            let mods: Vec<&'static str> = r.mods.iter().map(|m| moved(m)).collect();
            let digest = if r.path.starts_with("src/kernels/") { "renamed" } else { r.digest };
            SourceRow { path: moved(r.path), digest, mods: Box::leak(mods.into_boxed_slice()), ..*r }
        })
        .collect();
    SourceTree { sources: Box::leak(rows.into_boxed_slice()), ..tree }
}

/// (a) A pure refactor of the kernels keeps every key; keyed by tokens,
/// as before, it would have moved every training's.
#[test]
fn a_refactored_kernel_keeps_every_key() {
    let (_dir, kinds, pipeline) = project();
    let flex = battery(Arc::new(FlexKernels));
    let before = keys(&engine(&pipeline, &kinds, repro::compiled_sources(), "smoke").behaviour(flex.clone()));
    let after = keys(&engine(&pipeline, &kinds, refactored_kernels(), "smoke").behaviour(flex));
    assert!(!train_stages(&before).is_empty());
    for (stage, key) in &before {
        assert_eq!(after[stage].fingerprint, key.fingerprint, "{stage}: a refactor moved its key");
    }
    for (stage, key) in &before {
        let runs_model = stage.starts_with("train_") || stage.starts_with("features_") || stage == "gradcam";
        assert_eq!(!key.environment.kernels.is_empty(), runs_model, "{stage}: keyed by kernel prints exactly when it runs the model");
    }
    let tokens_before = keys(&engine(&pipeline, &kinds, repro::compiled_sources(), "smoke"));
    let tokens_after = keys(&engine(&pipeline, &kinds, refactored_kernels(), "smoke"));
    for stage in train_stages(&tokens_before) {
        assert_ne!(tokens_after[stage].fingerprint, tokens_before[stage].fingerprint, "{stage}: by tokens the refactor moves it");
    }
}

/// The kinds the battery says run no model (no kernel in their keys) do
/// not depend on the backend either: they compute no tensor.
#[test]
fn kinds_without_a_workload_compute_on_no_backend() {
    let kinds = repro::stages::registry();
    for name in ["dataset", "figures", "report", "center_sweep", "tsne"] {
        let workload = Workload::of(name, &toml::Table::new(), &[]).unwrap().unwrap();
        assert!(workload.passes.is_empty(), "{name}");
        assert!(kinds.get(name).unwrap().compute_path().is_empty(), "{name} has a compute path: it may run the model");
    }
    let registered: BTreeSet<&str> = kinds.names().map(String::as_str).collect();
    let known: BTreeSet<&str> = ["dataset", "figures", "report", "center_sweep", "tsne", "train", "features", "gradcam"].into();
    assert_eq!(registered, known, "a new kind: say whether it runs the model (kernel_prints::workload)");
    for name in ["train", "features", "gradcam"] {
        assert!(!kinds.get(name).unwrap().compute_path().is_empty(), "{name}");
    }
}

/// (b) Another summation order in the convolution at one shape moves the
/// keys of the stages that run it, and says which kernel at which shape.
#[test]
fn a_changed_summation_order_moves_the_keys_that_use_the_shape() {
    let (_dir, kinds, pipeline) = project();
    let sources = repro::compiled_sources;
    let flex = keys(&engine(&pipeline, &kinds, sources(), "smoke").behaviour(battery(Arc::new(FlexKernels))));
    // Smoke trains at batch 32: the second convolution's training shape.
    let reordered = Reordered { at: |input| *input == [32, 64, 32, 32] };
    let changed = keys(&engine(&pipeline, &kinds, sources(), "smoke").behaviour(battery(Arc::new(reordered))));
    for stage in train_stages(&flex) {
        assert_ne!(changed[stage].fingerprint, flex[stage].fingerprint, "{stage} runs that shape: its key moves");
        let reasons = repro_engine::fingerprint::environment_reasons(&flex[stage].environment, &changed[stage].environment);
        let text: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        assert_eq!(text, vec!["kernels compute differently: conv forward at 32x64x32x32->64"], "{stage}");
    }
    assert_eq!(changed["data"].fingerprint, flex["data"].fingerprint, "the dataset runs no kernel");
}

/// (c) The same change at a shape no stage runs moves no key, though it
/// does change that shape's outputs.
#[test]
fn a_change_at_a_shape_no_stage_runs_moves_nothing() {
    let (_dir, kinds, pipeline) = project();
    let unused = |input: &[usize; 4]| input[0] == 7;
    let probe = Probe::ConvForward { input: [7, 64, 32, 32], c_out: 64 };
    let differs = Reordered { at: unused }.run(&probe) != run_flex(&probe);
    assert!(differs, "the changed kernel computes differently at 7x64x32x32");
    let (flex_battery, changed_battery) = (battery(Arc::new(FlexKernels)), battery(Arc::new(Reordered { at: unused })));
    // The other profiles read the JPEG copy (its digest enters their keys).
    let jpeg = common::shared_jpeg_copy();
    let profiles = if jpeg.is_some() { vec!["smoke", "ci", "quick", "full"] } else { vec!["smoke"] };
    for profile in profiles {
        let data: BTreeMap<String, toml::Table> = match (&jpeg, profile) {
            (Some(path), "ci" | "quick" | "full") => {
                [("data".to_string(), [("source".to_string(), toml::Value::String(path.display().to_string()))].into_iter().collect())]
                    .into()
            }
            _ => BTreeMap::new(),
        };
        let flex =
            keys(&engine(&pipeline, &kinds, repro::compiled_sources(), profile).overrides(data.clone()).behaviour(flex_battery.clone()));
        let changed =
            keys(&engine(&pipeline, &kinds, repro::compiled_sources(), profile).overrides(data).behaviour(changed_battery.clone()));
        for (stage, key) in &flex {
            assert_eq!(changed[stage].fingerprint, key.fingerprint, "{profile} {stage}");
        }
    }
}

/// Each kernel layer's input dims when `model` runs a batch of one for
/// real (flex tensors through `Layer::apply`), in layer order.
fn real_layer_inputs(model: &Cnn) -> Vec<(&'static str, Vec<usize>)> {
    let device = burn::tensor::Device::flex();
    let mut x = Value::Maps(burn::tensor::Tensor::zeros([1, 3, 32, 32], &device));
    let mut out = Vec::new();
    for (_, layer) in model.layers() {
        let what = match layer {
            Layer::Conv(_) => Some("conv"),
            Layer::Norm(_) => Some("norm"),
            Layer::Pool(_) => Some("pool"),
            Layer::Dropout(_) => Some("dropout"),
            _ => None,
        };
        if let Some(what) = what {
            out.push((what, x.dims()));
        }
        x = layer.apply(x);
    }
    out
}

/// The names a probe set must hold for one kernel layer whose input is
/// `dims` (batch dim replaced by `n`) in `mode`.
fn expected(
    what: &str,
    dims: &[usize],
    n: usize,
    mode: Mode,
    model: &repro::model::CnnConfig,
    c_out: Option<usize>,
    first: bool,
) -> Vec<String> {
    let mut d = dims.to_vec();
    d[0] = n;
    let shape = d.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
    let train = mode == Mode::Train;
    match what {
        "conv" => {
            let c = c_out.unwrap();
            let mut v = vec![format!("conv forward at {shape}->{c}")];
            if train {
                v.push(format!("conv backward at {shape}->{c}{}", if first { " (no input gradient)" } else { "" }));
            }
            v
        }
        "norm" if train => vec![
            format!("batch norm forward at {shape} eps {}", model.bn_epsilon),
            format!("batch norm backward at {shape} eps {}", model.bn_epsilon),
        ],
        "norm" => vec![format!("batch norm inference at {shape} eps {}", model.bn_epsilon)],
        "pool" if train => vec![format!("max pool forward at {shape}"), format!("max pool backward at {shape}")],
        "pool" => vec![format!("max pool forward at {shape}")],
        "dropout" if train => {
            let p = if d.len() == 4 { model.dropout_conv } else { model.dropout_dense };
            vec![format!("dropout at {shape} p {p}")]
        }
        _ => vec![],
    }
}

/// The test split's labels a profile's dataset stage keeps: smoke's
/// synthetic set as generated, else CIFAR-10's balanced 10,000 through the
/// stratified subset the stage takes.
fn test_labels(data: &toml::Table) -> Vec<u8> {
    let size = |key: &str| data.get(key).and_then(|v| v.as_integer()).map(|v| v as usize);
    if data["source"].as_str() == Some("synthetic") {
        let (train, test) = (size("train_size").unwrap(), size("test_size").unwrap());
        return repro::data::synthetic::generate(train.min(100), test, 0).test.labels.clone();
    }
    let all: Vec<u8> = (0..10_000).map(|i| (i / 1000) as u8).collect();
    let seed = data.get("seed").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
    repro::data::subset::stratified(&all, size("test_size").unwrap_or(10_000), seed.wrapping_add(1)).iter().map(|&i| all[i]).collect()
}

/// Sizes of `len` items taken `batch` at a time, as the loops take them.
fn lens(len: usize, batch: usize) -> BTreeSet<usize> {
    (0..len).collect::<Vec<_>>().chunks(batch).map(<[usize]>::len).collect()
}

/// The passes a stage's own loops make (their batches counted over the
/// real split sizes), written out from the stages' code, not from the battery.
fn passes_of(kind: &str, params: &toml::Table, tables: &[(String, String, toml::Table)]) -> BTreeSet<(Mode, usize)> {
    let data = &tables.iter().find(|(_, k, _)| k == "dataset").unwrap().2;
    let labels = test_labels(data);
    let test = labels.len();
    let size = |key: &str| data.get(key).and_then(|v| v.as_integer()).map(|v| v as usize);
    let train = if data["source"].as_str() == Some("synthetic") {
        size("train_size").unwrap()
    } else {
        size("train_size").unwrap_or(50_000).min(50_000)
    };
    let eval = |n: usize| (Mode::Eval, n);
    match kind {
        "train" => {
            let p: repro::stages::train::TrainParams = repro_engine::typed_params(params).unwrap();
            let mut passes: BTreeSet<(Mode, usize)> = lens(train, p.batch_size).into_iter().map(|n| (Mode::Train, n)).collect();
            passes.extend(lens(test, p.eval_batch_size).into_iter().map(eval));
            if p.center_weight.is_some() {
                passes.extend(lens(p.center_init_sample.min(train), p.eval_batch_size).into_iter().map(eval));
            }
            passes.insert(eval(1));
            passes
        }
        "features" => {
            let p: repro::stages::features::FeatureParams = repro_engine::typed_params(params).unwrap();
            lens(p.sample_size.min(test), p.batch_size).into_iter().map(eval).collect()
        }
        _ => {
            let p: repro::stages::gradcam::GradcamParams = repro_engine::typed_params(params).unwrap();
            let mut passes: BTreeSet<(Mode, usize)> =
                (0..10u8).map(|c| eval(labels.iter().filter(|&&l| l == c).count().min(p.candidates))).collect();
            passes.insert(eval(1));
            passes
        }
    }
}

/// (d) For every profile and every stage that runs the model: the passes
/// its loops make, and for each, every kernel layer of the real model at
/// the dims a real forward gives it, are in the battery.
#[test]
fn the_battery_covers_every_shape_the_profiles_run() {
    let (_dir, kinds, pipeline) = project();
    let mut checked = 0;
    for profile in pipeline.profiles.keys() {
        let e = engine(&pipeline, &kinds, repro::compiled_sources(), profile);
        for stage in pipeline.stages.iter().filter(|s| ["train", "features", "gradcam"].contains(&s.kind.as_str())) {
            let params = e.params_of(&stage.name);
            let tables = repro_engine::dag::upstream_tables(&pipeline, &stage.name, |d| e.params_of(&d.name));
            let upstream: Vec<_> = tables.iter().map(|(s, k, p)| repro_engine::Upstream { stage: s, kind: k, params: p }).collect();
            let workload = Workload::of(&stage.kind, &params, &upstream).unwrap().unwrap();
            let names: BTreeSet<String> = workload.probes().iter().map(ToString::to_string).collect();
            let passes = passes_of(&stage.kind, &params, &tables);
            assert!(passes.is_subset(&workload.passes), "{profile} {}: {passes:?} not in {:?}", stage.name, workload.passes);
            let model = Cnn::new(&workload.model, &burn::tensor::Device::flex());
            let convs: Vec<usize> = model
                .layers()
                .iter()
                .filter_map(|(_, l)| if let Layer::Conv(c) = l { Some(c.weight.val().dims()[0]) } else { None })
                .collect();
            let layers = real_layer_inputs(&model);
            for &(mode, n) in &passes {
                let mut conv = 0;
                for (i, (what, dims)) in layers.iter().enumerate() {
                    let c_out = (*what == "conv").then(|| convs[conv]);
                    conv += usize::from(*what == "conv");
                    for name in expected(what, dims, n, mode, &workload.model, c_out, i == 0) {
                        assert!(names.contains(&name), "{profile} {}: `{name}` is not in the battery", stage.name);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} kernel shapes checked");
    assert_eq!(chunk_sizes(50_000, 64).into_iter().collect::<Vec<_>>(), vec![16, 64]);
}

/// (5) A remote's runs are carried to the new keys only where this binary
/// recomputes the old key: one pushed by this code is carried, with its
/// evidence, and restorable; one pushed by other code is not.
#[test]
fn a_published_run_is_carried_only_when_its_old_key_is_recomputed() {
    let (dir, kinds, pipeline) = project();
    let remote_dir = tempfile::tempdir().unwrap();
    let remote: Arc<dyn repro_engine::remote::RemoteCache> =
        Arc::new(repro_remote::open(&remote_dir.path().display().to_string(), dir.path(), &Default::default()).unwrap());
    let targets = |names: &[&str]| BuildOptions { targets: names.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let tokens = engine(&pipeline, &kinds, repro::compiled_sources(), "smoke").remote(Some(remote.clone()));
    tokens.build(&targets(&["train_a"])).unwrap();
    tokens.push(&["data".into(), "train_a".into()], false).unwrap();
    // train_b trained by other code (a training file's tokens differ).
    let tree = repro::compiled_sources();
    let rows: Vec<SourceRow> =
        tree.sources.iter().map(|r| if r.path == "src/training/trainer.rs" { SourceRow { digest: "other", ..*r } } else { *r }).collect();
    let other =
        engine(&pipeline, &kinds, SourceTree { sources: Box::leak(rows.into_boxed_slice()), ..tree }, "smoke").remote(Some(remote.clone()));
    other.build(&targets(&["train_b"])).unwrap();
    other.push(&["train_b".into()], false).unwrap();

    let by_behaviour = engine(&pipeline, &kinds, repro::compiled_sources(), "smoke")
        .behaviour(battery(Arc::new(FlexKernels)))
        .remote(Some(remote.clone()));
    let dry = by_behaviour.rekey(remote.as_ref(), true).unwrap();
    let carried = by_behaviour.rekey(remote.as_ref(), false).unwrap();
    let stages: Vec<&str> = carried.iter().map(|r| r.stage.as_str()).collect();
    assert_eq!(stages, vec!["train_a"], "{carried:?}");
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0].outcome, repro_engine::rekey::Outcome::WouldCarry);
    assert_eq!(carried[0].outcome, repro_engine::rekey::Outcome::Carried);

    let new = keys(&by_behaviour);
    assert_eq!(carried[0].to, new["train_a"].fingerprint);
    let entry = repro_engine::remote::remote_run(remote.as_ref(), &new["train_a"].fingerprint, &mut |d| panic!("{d}")).unwrap().unwrap();
    let evidence = entry.carried.as_ref().expect("the carried entry holds its evidence");
    assert_eq!(evidence.from, carried[0].from);
    assert_eq!(evidence.from, keys(&tokens)["train_a"].fingerprint);
    assert!(!entry.environment.kernels.is_empty() && evidence.environment.kernels.is_empty());
    assert!(!entry.code_files.keys().any(|f| f.starts_with("src/kernels/")));
    assert!(evidence.code_version != entry.code_version);

    let states: BTreeMap<String, State> =
        by_behaviour.status(&[], &BTreeSet::new()).unwrap().into_iter().map(|o| (o.stage, o.state)).collect();
    assert!(matches!(states["train_a"], State::Remote(_)), "train_a restorable under its new key: {:?}", states["train_a"]);
    assert!(matches!(states["train_b"], State::Stale(_)), "train_b not carried: {:?}", states["train_b"]);
    let again = by_behaviour.rekey(remote.as_ref(), false).unwrap();
    assert_eq!(again[0].outcome, repro_engine::rekey::Outcome::AlreadyThere);

    // An unfinished training's checkpoint is carried too, and carried again
    // when its training went on under the old key.
    let store = repro_engine::store::Store::open(&dir.path().join("artifacts")).unwrap();
    let old_c = keys(&tokens)["train_c"].fingerprint.clone();
    let checkpoint = |epoch: &str| {
        let folder = store.checkpoint_dir("train_c", &old_c);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("latest"), epoch).unwrap();
        repro_engine::carry::push_checkpoint(&store, remote.as_ref(), "train_c", &old_c, false).unwrap().unwrap();
    };
    let outcome = |what: repro_engine::rekey::EntryKind| {
        let rekeyed = by_behaviour.rekey(remote.as_ref(), false).unwrap();
        rekeyed.into_iter().find(|r| r.stage == "train_c" && r.entry == what).map(|r| r.outcome)
    };
    use repro_engine::rekey::{EntryKind::Checkpoint, Outcome};
    checkpoint("epoch 3");
    assert_eq!(outcome(Checkpoint), Some(Outcome::Carried));
    assert_eq!(outcome(Checkpoint), Some(Outcome::AlreadyThere));
    checkpoint("epoch 4");
    assert_eq!(outcome(Checkpoint), Some(Outcome::Carried), "the old key's newer checkpoint");
    let new_c = keys(&by_behaviour)["train_c"].fingerprint.clone();
    let carried = repro_engine::carry::remote_checkpoint(remote.as_ref(), &new_c).unwrap().unwrap();
    assert_eq!(carried.carried.unwrap().from, old_c);
    let old_entry = repro_engine::carry::remote_checkpoint(remote.as_ref(), &old_c).unwrap().unwrap();
    assert_eq!(carried.files, old_entry.files);
}

/// Counts the probes it runs (the model's kernels behind it).
struct Counting(std::sync::atomic::AtomicUsize);

impl ProbeRunner for Counting {
    fn id(&self) -> String {
        "flex kernels, counted".into()
    }
    fn run(&self, probe: &Probe) -> Vec<Vec<f32>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        run_flex(probe)
    }
}

/// Keeps each progress counter's label, length and last position.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<Arc<Counter>>>);

struct Counter {
    stage: String,
    len: u64,
    position: std::sync::atomic::AtomicU64,
}

impl ProgressSink for Counter {
    fn set_position(&self, position: u64) {
        self.position.store(position, std::sync::atomic::Ordering::SeqCst);
    }
    fn set_message(&self, _: String) {}
    fn finish(&self) {}
}

impl Reporter for Recording {
    fn event(&self, _: Event) {}
    fn progress(&self, stage: &str, len: u64, _: &str, _: Unit) -> Progress {
        let counter = Arc::new(Counter { stage: stage.into(), len, position: Default::default() });
        self.0.lock().unwrap().push(counter.clone());
        Progress::new(counter)
    }
}

impl Recording {
    /// `(label, length, last position)` of each counter shown.
    fn shown(&self) -> Vec<(String, u64, u64)> {
        let counters = self.0.lock().unwrap();
        counters.iter().map(|c| (c.stage.clone(), c.len, c.position.load(std::sync::atomic::Ordering::SeqCst))).collect()
    }
}

/// (2) A binary computes each print once: a second battery on the same
/// cache folder (the next `repro status`) runs no probe and gives the same
/// prints; a damaged cache file is recomputed, not trusted. Computing
/// shows a progress line counting the probes; reading the cache shows none.
#[test]
fn prints_are_computed_once_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let workload = Workload { model: repro::model::CnnConfig::default(), passes: [(Mode::Eval, 2), (Mode::Train, 2)].into() };
    let run = || {
        let counting = Arc::new(Counting(Default::default()));
        let shown = Arc::new(Recording::default());
        let battery = KernelBattery::new(counting.clone(), Some(dir.path().to_path_buf())).reporting(shown.clone());
        let prints = battery.prints_of_workload(&workload).unwrap();
        (prints, counting.0.load(std::sync::atomic::Ordering::SeqCst), shown.shown())
    };
    let (first, ran, shown) = run();
    assert_eq!(ran, workload.probes().len());
    assert!(ran > 20, "{ran} probes");
    assert_eq!(shown, vec![("kernel prints".to_string(), ran as u64, ran as u64)]);
    let (second, ran_again, shown_again) = run();
    assert_eq!((second, ran_again), (first.clone(), 0));
    assert!(shown_again.is_empty(), "a cached battery shows no progress: {shown_again:?}");
    let run = || {
        let (prints, ran, _) = run();
        (prints, ran)
    };
    for file in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(file.unwrap().path(), "{ damaged").unwrap();
    }
    let (third, recomputed) = run();
    assert_eq!((third, recomputed), (first, ran));
}
