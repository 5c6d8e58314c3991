//! The Vulkan backend's own code: the training loop that keeps the GPU
//! busy, its dropout masks made ahead, its checkpoints, the GPU cache's place and the driver's name.
//!
//! Compiled only with the `vulkan` feature and reached only from the
//! Vulkan variants of the stage kinds (`stages::registry_on`), never from
//! a flex stage's entry modules: so it enters the keys of stages on Vulkan
//! and no flex key (the published flex models stay fresh).

pub mod cache;
pub mod checkpoint;
pub mod driver;
pub mod forward;
pub mod masks;
pub mod reads;
pub mod resident;
pub mod train_kind;
pub mod trainer;
