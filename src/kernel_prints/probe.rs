//! One kernel at one shape, as a stage runs it, derived by walking the
//! model's own layer list (`Cnn::layers`), the list its forward walks.

use crate::model::Cnn;
use crate::model::cnn::Layer;
use std::fmt;

/// How a pass runs the model: training (autodiff, batch statistics,
/// dropout, every gradient) or inference (forward only, running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Train,
    Eval,
}

/// `[n, c, h, w]` of a layer's input maps.
pub type Maps = [usize; 4];

/// One kernel at one shape. Its name (`Display`) is the key of its print.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum Probe {
    /// The 3x3 convolution and its ReLU, `c_out` channels out.
    ConvForward {
        input: Maps,
        c_out: usize,
    },
    /// Its weight and bias gradients, and the input's when `input_grad`.
    ConvBackward {
        input: Maps,
        c_out: usize,
        input_grad: bool,
    },
    /// Batch norm with the batch's statistics: output, mean, variance.
    NormTrain {
        input: Maps,
        epsilon: f64,
    },
    /// Its input, scale and shift gradients.
    NormBackward {
        input: Maps,
        epsilon: f64,
    },
    /// Batch norm with running statistics.
    NormEval {
        input: Maps,
        epsilon: f64,
    },
    PoolForward {
        input: Maps,
    },
    PoolBackward {
        input: Maps,
    },
    /// The mask drawn from a seed stream, applied, and its gradient.
    Dropout {
        input: Vec<usize>,
        prob: f64,
    },
}

fn dims(d: &[usize]) -> String {
    d.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::ConvForward { input, c_out } => write!(f, "conv forward at {}->{c_out}", dims(input)),
            Probe::ConvBackward { input, c_out, input_grad: true } => write!(f, "conv backward at {}->{c_out}", dims(input)),
            Probe::ConvBackward { input, c_out, input_grad: false } => {
                write!(f, "conv backward at {}->{c_out} (no input gradient)", dims(input))
            }
            Probe::NormTrain { input, epsilon } => write!(f, "batch norm forward at {} eps {epsilon}", dims(input)),
            Probe::NormBackward { input, epsilon } => write!(f, "batch norm backward at {} eps {epsilon}", dims(input)),
            Probe::NormEval { input, epsilon } => write!(f, "batch norm inference at {} eps {epsilon}", dims(input)),
            Probe::PoolForward { input } => write!(f, "max pool forward at {}", dims(input)),
            Probe::PoolBackward { input } => write!(f, "max pool backward at {}", dims(input)),
            Probe::Dropout { input, prob } => write!(f, "dropout at {} p {prob}", dims(input)),
        }
    }
}

/// The kernels `model` runs on a batch of `n` 32x32 RGB images in `mode`,
/// in layer order. The images take no gradient (the first convolution's
/// input gradient is never computed); dropout runs only in training.
pub fn probes(model: &Cnn, n: usize, mode: Mode) -> Vec<Probe> {
    let train = mode == Mode::Train;
    let mut shape: Vec<usize> = vec![n, 3, 32, 32];
    let mut out = Vec::new();
    for (i, (_, layer)) in model.layers().into_iter().enumerate() {
        let maps: Option<Maps> = <[usize; 4]>::try_from(shape.as_slice()).ok();
        match (layer, maps) {
            (Layer::Conv(conv), Some(input)) => {
                let c_out = conv.weight.val().dims()[0];
                out.push(Probe::ConvForward { input, c_out });
                if train {
                    out.push(Probe::ConvBackward { input, c_out, input_grad: i > 0 });
                }
                shape[1] = c_out;
            }
            (Layer::Norm(bn), Some(input)) if train => {
                out.push(Probe::NormTrain { input, epsilon: bn.epsilon });
                out.push(Probe::NormBackward { input, epsilon: bn.epsilon });
            }
            (Layer::Norm(bn), Some(input)) => out.push(Probe::NormEval { input, epsilon: bn.epsilon }),
            (Layer::Pool(_), Some(input)) => {
                out.push(Probe::PoolForward { input });
                if train {
                    out.push(Probe::PoolBackward { input });
                }
                shape = vec![input[0], input[1], input[2] / 2, input[3] / 2];
            }
            (Layer::Dropout(d), _) if train && d.prob > 0.0 => out.push(Probe::Dropout { input: shape.clone(), prob: d.prob }),
            (Layer::Dropout(_), _) => {}
            (Layer::Gap(_), Some(input)) => shape = vec![input[0], input[1]],
            (Layer::Dense(l) | Layer::Classifier(l), _) => shape = vec![n, l.weight.val().dims()[1]],
            (_, None) => unreachable!("the model's maps come before its global pooling"),
        }
    }
    out
}
