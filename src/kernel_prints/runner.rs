//! Running a probe: its kernel through the same entry points the model
//! calls (`kernels::conv::conv3x3`, `norm`, `pool`, `dropout`), on flex,
//! with autodiff for gradients; every output and gradient, in a fixed
//! order, is what a print hashes.

use super::probe::Probe;
use super::values::values;
use burn::tensor::{Device, Tensor, TensorData};

/// Computes a probe's outputs. The battery's runner is `FlexKernels`;
/// tests put a changed kernel behind another.
pub trait ProbeRunner: Send + Sync {
    /// Names the implementation, for the cache (a test's changed kernel
    /// must not read the real one's prints).
    fn id(&self) -> String;
    /// The probe's outputs and gradients, in a fixed order.
    fn run(&self, probe: &Probe) -> Vec<Vec<f32>>;
}

/// The model's kernels on this machine's flex path.
pub struct FlexKernels;

impl ProbeRunner for FlexKernels {
    fn id(&self) -> String {
        "flex kernels".into()
    }
    fn run(&self, probe: &Probe) -> Vec<Vec<f32>> {
        run_flex(probe)
    }
}

/// sha256 over each vector's length and little-endian bytes.
pub fn digest(outputs: &[Vec<f32>]) -> String {
    let mut bytes = Vec::new();
    for v in outputs {
        bytes.extend((v.len() as u64).to_le_bytes());
        bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    }
    repro_engine::hashing::sha256_hex(&bytes)
}

/// The inputs of one probe on `device`: each named by its role.
pub struct Inputs<'a> {
    probe: String,
    device: &'a Device,
}

impl<'a> Inputs<'a> {
    pub fn new(probe: &Probe, device: &'a Device) -> Inputs<'a> {
        Inputs { probe: probe.to_string(), device }
    }

    pub fn tensor<const D: usize>(&self, role: &str, shape: [usize; D], scale: f32) -> Tensor<D> {
        let len = shape.iter().product();
        Tensor::from_data(TensorData::new(values(&self.probe, role, len, scale), shape), self.device)
    }

    pub fn vec(&self, role: &str, len: usize, scale: f32) -> Vec<f32> {
        values(&self.probe, role, len, scale)
    }
}

pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 values")
}

/// `probe` through the model's kernels on flex.
pub fn run_flex(probe: &Probe) -> Vec<Vec<f32>> {
    use crate::kernels::{conv::conv3x3, norm, pool::max_pool2x2};
    let (plain, grad) = (Device::flex(), Device::flex().autodiff());
    match probe {
        Probe::ConvForward { input, c_out } => {
            let at = Inputs::new(probe, &plain);
            let [_, c_in, _, _] = *input;
            vec![floats(conv3x3(
                at.tensor("x", *input, 1.0),
                at.tensor("weight", [*c_out, c_in, 3, 3], 0.25),
                at.tensor("bias", [*c_out], 1.0),
                true,
            ))]
        }
        Probe::ConvBackward { input, c_out, input_grad } => {
            let at = Inputs::new(probe, &grad);
            let [n, c_in, h, w] = *input;
            let x = at.tensor("x", *input, 1.0);
            let x = if *input_grad { x.require_grad() } else { x };
            let weight = at.tensor("weight", [*c_out, c_in, 3, 3], 0.25).require_grad();
            let bias = at.tensor("bias", [*c_out], 1.0).require_grad();
            let out = conv3x3(x.clone(), weight.clone(), bias.clone(), true);
            let g = (out * at.tensor("grad", [n, *c_out, h, w], 1.0)).sum().backward();
            let mut grads = vec![floats(weight.grad(&g).expect("weight gradient")), floats(bias.grad(&g).expect("bias gradient"))];
            if *input_grad {
                grads.push(floats(x.grad(&g).expect("input gradient")));
            }
            grads
        }
        Probe::NormTrain { input, epsilon } | Probe::NormBackward { input, epsilon } => {
            let at = Inputs::new(probe, &grad);
            let c = input[1];
            let x = at.tensor("x", *input, 1.0).require_grad();
            let (gamma, beta) = (at.tensor("gamma", [c], 1.0).require_grad(), at.tensor("beta", [c], 1.0).require_grad());
            let (out, mean, variance) = norm::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), *epsilon);
            if matches!(probe, Probe::NormTrain { .. }) {
                return vec![floats(out), floats(mean), floats(variance)];
            }
            let g = (out * at.tensor("grad", *input, 1.0)).sum().backward();
            let missing = "batch norm gradient";
            vec![floats(x.grad(&g).expect(missing)), floats(gamma.grad(&g).expect(missing)), floats(beta.grad(&g).expect(missing))]
        }
        Probe::NormEval { input, epsilon } => {
            let at = Inputs::new(probe, &plain);
            let c = input[1];
            let variance: Vec<f32> = at.vec("variance", c, 1.0).iter().map(|v| v.abs() + 0.1).collect();
            let variance = Tensor::from_data(TensorData::new(variance, [c]), &plain);
            let [gamma, beta, mean] = ["gamma", "beta", "mean"].map(|role| at.tensor(role, [c], 1.0));
            vec![floats(norm::batch_norm_eval(at.tensor("x", *input, 1.0), gamma, beta, mean, variance, *epsilon))]
        }
        Probe::PoolForward { input } => vec![floats(max_pool2x2(Inputs::new(probe, &plain).tensor("x", *input, 1.0)))],
        Probe::PoolBackward { input } => {
            let at = Inputs::new(probe, &grad);
            let [n, c, h, w] = *input;
            let x = at.tensor("x", *input, 1.0).require_grad();
            let g = (max_pool2x2(x.clone()) * at.tensor("grad", [n, c, h / 2, w / 2], 1.0)).sum().backward();
            vec![floats(x.grad(&g).expect("pool gradient"))]
        }
        Probe::Dropout { input, prob } => dropout(probe, input, *prob, &grad),
    }
}

/// Dropout on maps or flat features, its seed stream restarted from the
/// probe's own seed (as a training restarts it each epoch).
fn dropout(probe: &Probe, input: &[usize], prob: f64, device: &Device) -> Vec<Vec<f32>> {
    use crate::kernels::dropout;
    let layer = burn::nn::DropoutConfig::new(prob).init();
    let at = Inputs::new(probe, device);
    dropout::seed_stream(super::values::Stream::of(&probe.to_string()).next_u64());
    match *input {
        [n, c, h, w] => {
            let x = at.tensor("x", [n, c, h, w], 1.0).require_grad();
            let out = dropout::dropout(&layer, x.clone());
            let g = (out.clone() * at.tensor("grad", [n, c, h, w], 1.0)).sum().backward();
            vec![floats(out), floats(x.grad(&g).expect("dropout gradient"))]
        }
        [n, d] => {
            let x = at.tensor("x", [n, d], 1.0).require_grad();
            let out = dropout::dropout(&layer, x.clone());
            let g = (out.clone() * at.tensor("grad", [n, d], 1.0)).sum().backward();
            vec![floats(out), floats(x.grad(&g).expect("dropout gradient"))]
        }
        _ => unreachable!("the model's dropouts act on maps or flat features"),
    }
}
