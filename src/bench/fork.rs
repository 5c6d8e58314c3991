//! A model made on flex, moved to another backend with its weights: burn's
//! parameters are lazy, and forked unread they would draw their values from
//! the target device's RNG. The trainer does the same in
//! `training::trainer` (its own copy: that file is in every model key).

use crate::model::Cnn;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

/// `model` with every parameter initialised where it was made, then forked
/// to `device` (unchanged when that is flex).
pub fn materialized_fork(model: Cnn, device: &Device) -> Cnn {
    model.visit(&mut Materialize);
    if crate::compute::on_flex(device) { model } else { model.fork(device) }
}

/// Reads every float parameter, which initialises the lazy ones.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}
