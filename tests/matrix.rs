//! Stage matrices in pipeline.toml: one declaration, one stage per
//! combination, named `base@key=value,...`; dependents of the matrix
//! depend on every member; profiles override the matrix or one member;
//! errors name file, line and key.

use repro_engine::Pipeline;
use std::path::Path;

fn parse(text: &str) -> Result<Pipeline, String> {
    Pipeline::parse(Path::new("pipeline.toml"), text.to_string(), &repro::stages::registry()).map_err(|e| e.to_string())
}

const SWEEP: &str = r#"
[stages.data]
kind = "dataset"
params = { source = "synthetic", train_size = 100, test_size = 50 }

[stages.train_center]
kind = "train"
depends_on = ["data"]
params = { label = "center", epochs = 2 }
matrix = { seed = [0, 1, 2], center_weight = [0.0, 0.003] }

[stages.sweep]
kind = "center_sweep"
depends_on = ["train_center"]

[profiles.main]
[profiles.main.stages.train_center]
epochs = 1
[profiles.main.stages."train_center@seed=2,center_weight=0.003"]
epochs = 5
"#;

#[test]
fn a_matrix_declares_one_stage_per_combination() {
    let p = parse(SWEEP).unwrap();
    let members: Vec<&str> = p.stages.iter().filter(|s| s.kind == "train").map(|s| s.name.as_str()).collect();
    assert_eq!(
        members,
        [
            "train_center@seed=0,center_weight=0.0",
            "train_center@seed=0,center_weight=0.003",
            "train_center@seed=1,center_weight=0.0",
            "train_center@seed=1,center_weight=0.003",
            "train_center@seed=2,center_weight=0.0",
            "train_center@seed=2,center_weight=0.003",
        ],
        "axes in the order written, row-major"
    );
    let sweep = p.stage("sweep").unwrap();
    assert_eq!(sweep.depends_on, members, "depending on the matrix is depending on every member");
    let member = p.stage("train_center@seed=1,center_weight=0.003").unwrap();
    let params = p.resolve_params(member, None).table;
    assert_eq!(params["seed"].as_integer(), Some(1));
    assert_eq!(params["center_weight"].as_float(), Some(0.003));
    assert_eq!(params["epochs"].as_integer(), Some(2));
}

#[test]
fn profiles_override_the_matrix_or_one_member_but_not_its_values() {
    let p = parse(&SWEEP.replace("epochs = 1", "epochs = 1\nseed = 9")).unwrap();
    let epochs = |name: &str| p.resolve_params(p.stage(name).unwrap(), Some("main")).table["epochs"].as_integer();
    assert_eq!(epochs("train_center@seed=0,center_weight=0.0"), Some(1));
    assert_eq!(epochs("train_center@seed=2,center_weight=0.003"), Some(5));
    let seed = p.resolve_params(p.stage("train_center@seed=0,center_weight=0.0").unwrap(), Some("main")).table["seed"].as_integer();
    assert_eq!(seed, Some(0), "a member's matrix values win over the profile");
}

#[test]
fn matrix_errors_name_the_line_and_the_key() {
    // Without the member's own profile table, which a renamed axis would orphan.
    let plain = SWEEP.replace("[profiles.main.stages.\"train_center@seed=2,center_weight=0.003\"]\nepochs = 5\n", "");
    let empty = parse(&plain.replace("seed = [0, 1, 2]", "seed = []")).unwrap_err();
    assert!(empty.starts_with("pipeline.toml:10:") && empty.contains("matrix.seed has no values"), "{empty}");
    let scalar = parse(&plain.replace("seed = [0, 1, 2]", "seed = 3")).unwrap_err();
    assert!(scalar.starts_with("pipeline.toml:10:") && scalar.contains("matrix.seed must be a list"), "{scalar}");
    let twice = parse(&plain.replace("seed = [0, 1, 2]", "seed = [0, 1, 1]")).unwrap_err();
    assert!(twice.contains("`train_center@seed=1,center_weight=0.0` is declared twice"), "{twice}");
    let unknown = parse(&plain.replace("seed = [0, 1, 2]", "sead = [0, 1, 2]")).unwrap_err();
    assert!(unknown.starts_with("pipeline.toml:10:") && unknown.contains("sead"), "{unknown}");
    let bad_value = parse(&plain.replace("center_weight = [0.0, 0.003]", "center_weight = [0.0, -1.0]")).unwrap_err();
    assert!(bad_value.starts_with("pipeline.toml:10:") && bad_value.contains("params.center_weight"), "{bad_value}");
}

#[test]
fn the_sweep_and_the_reference_are_matrices() {
    let kinds = repro::stages::registry();
    let sweep = Pipeline::load(Path::new("sweep.toml"), &kinds).unwrap();
    let runs = sweep.stages.iter().filter(|s| s.kind == "train").count();
    assert_eq!(runs, 15, "5 weights x 3 seeds");
    assert_eq!(sweep.stage("sweep").unwrap().depends_on.len(), 15);
    let reference = Pipeline::load(Path::new("reference.toml"), &kinds).unwrap();
    for model in ["a", "b", "c"] {
        for seed in 0..3 {
            assert!(reference.stage(&format!("train_{model}@seed={seed}")).is_some(), "train_{model}@seed={seed}");
        }
    }
}

#[test]
fn cluster_resources_come_from_the_kind_then_the_stage() {
    let text = format!("{SWEEP}\n[resources.train]\ncpus = 2\ntime = \"1:00:00\"\n");
    let text = text.replace("[stages.sweep]\n", "[stages.sweep]\nresources = { cpus = 1, memory = \"1G\" }\n");
    let p = parse(&text).unwrap();
    let member = p.resources_of(p.stage("train_center@seed=0,center_weight=0.0").unwrap());
    assert_eq!((member.cpus, member.time.as_deref(), member.memory), (Some(2), Some("1:00:00"), None));
    let sweep = p.resources_of(p.stage("sweep").unwrap());
    assert_eq!((sweep.cpus, sweep.memory.as_deref()), (Some(1), Some("1G")));
    let unknown = parse(&format!("{SWEEP}\n[resources.trian]\ncpus = 1\n")).unwrap_err();
    assert!(unknown.contains("unknown stage kind `trian`"), "{unknown}");
    let bad = parse(&format!("{SWEEP}\n[resources.train]\ncpu = 1\n")).unwrap_err();
    assert!(bad.contains("unknown field `cpu`"), "{bad}");
}
