//! What each stage kind takes as input (checked when pipeline.toml loads).
//! Kept apart from the kinds' own modules: a kind's key covers its code,
//! and these rules change no output.

use repro_engine::wiring::{Count::*, InputRule};

pub const RULES: &[InputRule] = &[
    InputRule { kind: "dataset", needs: &[], accepts: Some(&[]) },
    InputRule { kind: "train", needs: &[("dataset", ExactlyOne)], accepts: Some(&[]) },
    InputRule { kind: "features", needs: &[("dataset", ExactlyOne), ("train", ExactlyOne)], accepts: Some(&[]) },
    InputRule { kind: "gradcam", needs: &[("dataset", ExactlyOne), ("train", ExactlyOne)], accepts: Some(&[]) },
    InputRule { kind: "tsne", needs: &[("features", ExactlyOne)], accepts: Some(&[]) },
    InputRule { kind: "center_sweep", needs: &[("train", AtLeastOne)], accepts: Some(&[]) },
    // Figures and the report draw whatever their inputs hold.
    InputRule { kind: "figures", needs: &[], accepts: None },
    InputRule { kind: "report", needs: &[], accepts: None },
];
