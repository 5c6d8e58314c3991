//! The three optimizers of the report, with Keras's hyper-parameters.

use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
    Rmsprop,
}

/// Optimizer settings; fields that do not apply to the chosen kind are ignored.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerParams {
    pub kind: OptimizerKind,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub momentum: f64,
    pub rho: f32,
}

impl Default for OptimizerParams {
    fn default() -> Self {
        OptimizerParams { kind: OptimizerKind::Adam, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, momentum: 0.9, rho: 0.9 }
    }
}

impl OptimizerParams {
    pub fn build(&self) -> ModuleOptimizer {
        match self.kind {
            OptimizerKind::Adam => AdamConfig::new().with_beta_1(self.beta_1).with_beta_2(self.beta_2).with_epsilon(self.epsilon).init(),
            // Keras SGD momentum: v = m v - lr g; w += v (no dampening).
            OptimizerKind::Sgd => {
                SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_momentum(self.momentum).with_dampening(0.0))).init()
            }
            // Keras RMSprop: no momentum, not centered.
            OptimizerKind::Rmsprop => {
                RmsPropConfig::new().with_alpha(self.rho).with_momentum(0.0).with_epsilon(self.epsilon).with_centered(false).init()
            }
        }
    }
}
