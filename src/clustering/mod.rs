//! Clustering for the center-loss method (SPEC section 5): K-means and
//! the matching of clusters to classes, and class-separation measures.

pub mod centers;
pub mod kmeans;
pub mod separation;
