//! Feature spaces made visible (SPEC section 6): PCA, t-SNE in 2-D and 3-D,
//! and numbers that say how well classes separate.

pub mod affinities;
pub mod distances;
pub mod eigen;
pub mod metrics;
pub mod pca;
pub mod tree;
pub mod tsne;
