//! CIFAR-10 and its stand-ins: sources, loaders and subsets.

pub mod archive;
pub mod augment;
pub mod cifar_binary;
pub mod dataset;
pub mod download;
pub mod image_folder;
pub mod local;
pub mod subset;
pub mod synthetic;

pub use dataset::{CIFAR10_CLASSES, Dataset, Provenance, Split};
