//! The model's 3x3 convolution kernels against burn's own conv2d: forward
//! values and all three gradients, and a weight gradient that does not
//! depend on the thread count.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use repro::model::conv_kernels::{self, ConvDims};
use repro::model::conv_op::conv3x3;

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn tensor<const D: usize>(data: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn assert_close(name: &str, ours: &[f32], reference: &[f32]) {
    assert_eq!(ours.len(), reference.len(), "{name}: lengths differ");
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= 1e-5 * scale * 10.0, "{name}[{i}]: ours {a}, burn {b}");
    }
}

/// (output, grad x, grad weight, grad bias) of sum(conv(x) * r), from `conv`.
fn run(d: ConvDims, conv: impl Fn(Tensor<4>, Tensor<4>, Tensor<1>) -> Tensor<4>) -> [Vec<f32>; 4] {
    let ad = Device::flex().autodiff();
    let x = tensor(&random(d.n * d.c_in * d.h * d.w, 1), [d.n, d.c_in, d.h, d.w], &ad).require_grad();
    let w = tensor(&random(d.c_out * d.c_in * 9, 2), [d.c_out, d.c_in, 3, 3], &ad).require_grad();
    let b = tensor(&random(d.c_out, 3), [d.c_out], &ad).require_grad();
    let r = tensor(&random(d.n * d.c_out * d.h * d.w, 4), [d.n, d.c_out, d.h, d.w], &ad);
    let out = conv(x.clone(), w.clone(), b.clone());
    let grads = (out.clone() * r).sum().backward();
    [values(out), values(x.grad(&grads).unwrap()), values(w.grad(&grads).unwrap()), values(b.grad(&grads).unwrap())]
}

fn burn_conv(x: Tensor<4>, w: Tensor<4>, b: Tensor<1>) -> Tensor<4> {
    conv2d(x, w, Some(b), ConvOptions::new([1, 1], [1, 1], [1, 1], 1))
}

#[test]
fn matches_burn_conv2d_in_value_and_every_gradient() {
    let shapes = [
        ConvDims { n: 1, c_in: 3, c_out: 4, h: 1, w: 1 },
        ConvDims { n: 5, c_in: 3, c_out: 8, h: 7, w: 5 },
        ConvDims { n: 9, c_in: 16, c_out: 12, h: 8, w: 8 },
        ConvDims { n: 2, c_in: 64, c_out: 32, h: 16, w: 16 },
    ];
    for d in shapes {
        let ours = run(d, conv3x3);
        let reference = run(d, burn_conv);
        for (name, (a, b)) in ["output", "grad x", "grad weight", "grad bias"].iter().zip(ours.iter().zip(&reference)) {
            assert_close(&format!("{d:?} {name}"), a, b);
        }
    }
}

#[test]
fn an_untracked_input_gets_no_gradient_and_the_rest_is_unchanged() {
    let ad = Device::flex().autodiff();
    let d = ConvDims { n: 3, c_in: 3, c_out: 4, h: 6, w: 6 };
    let x = tensor(&random(3 * 3 * 36, 5), [3, 3, 6, 6], &ad);
    let w = tensor(&random(4 * 27, 6), [4, 3, 3, 3], &ad).require_grad();
    let b = tensor(&random(4, 7), [4], &ad).require_grad();
    let grads = conv3x3(x.clone(), w.clone(), b).sum().backward();
    assert!(x.grad(&grads).is_none());
    let full = conv_kernels::backward(&values(x), &values(w.clone()), &vec![1.0; 3 * 4 * 36], d, true);
    assert_eq!(values(w.grad(&grads).unwrap()), full.weight);
}

#[test]
fn weight_gradient_is_identical_for_one_and_three_threads() {
    let d = ConvDims { n: 13, c_in: 8, c_out: 6, h: 10, w: 10 };
    let (x, w) = (random(13 * 8 * 100, 8), random(6 * 8 * 9, 9));
    let g = random(13 * 6 * 100, 10);
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| conv_kernels::backward(&x, &w, &g, d, true))
    };
    let (one, three) = (on(1), on(3));
    assert_eq!(one.weight, three.weight);
    assert_eq!(one.bias, three.bias);
    assert_eq!(one.input, three.input);
}
