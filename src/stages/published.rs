//! Numbers the original report published (SPEC sections 3-5), to stand
//! beside ours.

/// (label, test accuracy %, test loss) of the report's models; the report
/// gave no loss for the center-loss model.
pub const TRAINING: &[(&str, f64, Option<f64>)] = &[
    ("a", 81.77, Some(0.5523)),
    ("b", 82.61, Some(0.5942)),
    ("c", 84.57, Some(0.5474)),
    ("d", 81.21, Some(0.5840)),
    ("e", 81.80, Some(0.5686)),
    ("f", 83.47, Some(0.5215)),
    ("final", 86.44, Some(0.4914)),
    ("center", 87.8, None),
];

/// The report trained each variant (a-f) for 30 epochs on all 50,000
/// training images; the final and center-loss models ran longer.
pub const VARIANTS: &[&str] = &["a", "b", "c", "d", "e", "f"];
pub const VARIANT_EPOCHS: usize = 30;
pub const TRAIN_IMAGES: usize = 50_000;

/// What each variant changes (SPEC section 4).
pub const CHANGES: &[(&str, &str)] = &[
    ("a", "base model without BatchNormalization, constant lr"),
    ("b", "a + BatchNormalization between the Conv2D layers"),
    ("c", "b + the LR schedule"),
    ("d", "c + augmentation (rotation within +-15 degrees, horizontal flip)"),
    ("e", "c with SGD instead of Adam"),
    ("f", "c with RMSprop instead of Adam"),
    ("final", "c trained for up to 150 epochs with early stopping (report: stopped at epoch 122)"),
    ("center", "final + center loss, centers initialised by K-means (report: ran all 150 epochs)"),
];

/// The report's figure numbers for a model's curves (the final model's
/// appear twice: Figure 2, and Figure 7-1 beside the center-loss model).
pub fn curves_figures(label: &str) -> &'static [&'static str] {
    match label {
        "final" => &["Figure 2", "Figure 7-1"],
        "center" => &["Figure 7-2"],
        "a" => &["Figure 4-1"],
        "b" => &["Figure 4-2"],
        "c" => &["Figure 4-3"],
        "d" => &["Figure 4-4"],
        "e" => &["Figure 4-5"],
        "f" => &["Figure 4-6"],
        _ => &[],
    }
}

pub fn training(label: &str) -> Option<(f64, Option<f64>)> {
    TRAINING.iter().find(|(l, _, _)| *l == label).map(|(_, a, l)| (*a, *l))
}

pub fn change(label: &str) -> &'static str {
    CHANGES.iter().find(|(l, _)| *l == label).map_or("", |(_, c)| c)
}

/// Where an embedding figure (stem `tsne_<model>_<layer>_<d>d`, without
/// `tsne_`) appears: (section, report id, caption).
pub fn embedding_figures(stem: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match stem {
        "final_logits_2d" => &[("features", "Figure 5-1", "2-D t-SNE of the final model's last Dense (class) layer, test images")],
        "final_logits_3d" => &[
            ("features", "Figure 5-2", "3-D t-SNE of the final model's last Dense (class) layer, test images"),
            ("center_features", "Figure 9-1", "3-D t-SNE of the final model's last Dense (class) layer (no center loss)"),
        ],
        "center_first_conv_3d" => &[("center_features", "Figure 8-1", "3-D t-SNE of the center-loss model's first Conv2D output")],
        "center_last_conv_3d" => &[("center_features", "Figure 8-2", "3-D t-SNE of the center-loss model's last Conv2D output")],
        "center_dense_3d" => &[("center_features", "Figure 8-3", "3-D t-SNE of the center-loss model's first Dense output")],
        "center_logits_3d" => &[
            ("center_features", "Figure 8-4", "3-D t-SNE of the center-loss model's class (output) layer"),
            ("center_features", "Figure 9-2", "3-D t-SNE of the center-loss model's class layer (with center loss)"),
        ],
        _ => &[],
    }
}
