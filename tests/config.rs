//! pipeline.toml errors are caught before anything runs, with
//! file:line:column and a hint.

use repro_engine::Pipeline;
use std::path::Path;

fn error_of(text: &str) -> String {
    let kinds = repro::stages::registry();
    match Pipeline::parse(Path::new("pipeline.toml"), text.to_string(), &kinds) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = r#"
[stages.data]
kind = "dataset"
params = { source = "synthetic", train_size = 10, test_size = 10 }

[stages.figures]
kind = "figures"
depends_on = ["data"]

[profiles.smoke]
"#;

#[test]
fn the_repository_pipeline_loads() {
    let p = Pipeline::load(Path::new("pipeline.toml"), &repro::stages::registry()).unwrap();
    for profile in ["smoke", "quick", "paper"] {
        assert!(p.profiles.contains_key(profile), "{profile}");
    }
    assert_eq!(p.default_profile, "paper");
}

#[test]
fn good_pipeline_parses() {
    let kinds = repro::stages::registry();
    Pipeline::parse(Path::new("pipeline.toml"), GOOD.into(), &kinds).unwrap();
}

#[test]
fn unknown_key() {
    let e = error_of(&GOOD.replace("depends_on", "dependson"));
    assert!(e.starts_with("pipeline.toml:8:1:") || e.starts_with("pipeline.toml:8:"), "{e}");
    assert!(e.contains("unknown field `dependson`") && e.contains("hint:"), "{e}");
}

#[test]
fn wrong_type() {
    let e = error_of(&GOOD.replace("depends_on = [\"data\"]", "depends_on = \"data\""));
    assert!(e.starts_with("pipeline.toml:8:"), "{e}");
    assert!(e.contains("invalid type"), "{e}");
}

#[test]
fn wrong_param_type_points_at_the_value() {
    let e = error_of(&GOOD.replace("train_size = 10,", "train_size = \"ten\","));
    assert!(e.starts_with("pipeline.toml:4:"), "{e}");
    assert!(e.contains("params.train_size") && e.contains("hint: parameters of kind `dataset`"), "{e}");
}

#[test]
fn unknown_param() {
    let e = error_of(&GOOD.replace("test_size = 10", "test_sise = 10"));
    assert!(e.starts_with("pipeline.toml:4:"), "{e}");
    assert!(e.contains("params.test_sise"), "{e}");
}

#[test]
fn unknown_kind() {
    let e = error_of(&GOOD.replace("kind = \"figures\"", "kind = \"figure\""));
    assert!(e.starts_with("pipeline.toml:7:8:"), "{e}");
    assert!(
        e.contains("unknown stage kind `figure`")
            && e.contains("known kinds: center_sweep, dataset, features, figures, gradcam, report, train, tsne"),
        "{e}"
    );
}

#[test]
fn missing_dependency() {
    let e = error_of(&GOOD.replace("depends_on = [\"data\"]", "depends_on = [\"dta\"]"));
    assert!(e.starts_with("pipeline.toml:8:15:"), "{e}");
    assert!(e.contains("depends on `dta`, which is not declared"), "{e}");
}

#[test]
fn cycle_names_its_stages() {
    let text = GOOD.replace("kind = \"dataset\"", "kind = \"dataset\"\ndepends_on = [\"figures\"]");
    let e = error_of(&text);
    assert!(e.contains("dependency cycle: data -> figures -> data") || e.contains("dependency cycle: figures -> data -> figures"), "{e}");
    assert!(e.starts_with("pipeline.toml:2:"), "{e}");
}

#[test]
fn duplicate_stage() {
    let e = error_of(&format!("{GOOD}\n[stages.data]\nkind = \"dataset\"\n"));
    assert!(e.starts_with("pipeline.toml:12:"), "{e}");
    assert!(e.to_lowercase().contains("duplicate"), "{e}");
}

#[test]
fn profile_of_unknown_stage() {
    let e = error_of(&format!("{GOOD}[profiles.smoke.stages.dat]\nsource = \"x\"\n"));
    assert!(e.starts_with("pipeline.toml:11:"), "{e}");
    assert!(e.contains("unknown stage `dat`"), "{e}");
}

#[test]
fn profile_override_is_validated_and_located() {
    let e = error_of(&format!("{GOOD}[profiles.smoke.stages.data]\ntrain_size = -1\n"));
    assert!(e.starts_with("pipeline.toml:12:14:"), "{e}");
    assert!(e.contains("profile `smoke`"), "{e}");
}

#[test]
fn unknown_profile_is_an_error_listing_known_ones() {
    let kinds = repro::stages::registry();
    let p = Pipeline::parse(Path::new("pipeline.toml"), GOOD.into(), &kinds).unwrap();
    let e = p.profile("smok").unwrap_err().to_string();
    assert!(e.contains("unknown profile `smok`") && e.contains("known profiles: smoke"), "{e}");
}
