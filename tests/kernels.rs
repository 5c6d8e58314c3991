//! The model's own kernels against burn's implementations of the same
//! operations (3x3 convolution, 2x2 max-pooling, training-mode batch norm):
//! values and every gradient; a weight gradient that does not depend on the
//! thread count; and dropout against its definition.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use repro::kernels::conv::{self as conv_kernels, ConvDims, conv3x3};

mod common;
use common::{random, tensor, values};

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
    for (d, relu) in shapes.into_iter().flat_map(|d| [(d, false), (d, true)]) {
        let ours = run(d, |x, w, b| conv3x3(x, w, b, relu));
        let reference = run(d, |x, w, b| if relu { burn::tensor::activation::relu(burn_conv(x, w, b)) } else { burn_conv(x, w, b) });
        for (name, (a, b)) in ["output", "grad x", "grad weight", "grad bias"].iter().zip(ours.iter().zip(&reference)) {
            assert_close(&format!("{d:?} relu {relu} {name}"), a, b);
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
    let grads = conv3x3(x.clone(), w.clone(), b, false).sum().backward();
    assert!(x.grad(&grads).is_none());
    let full = conv_kernels::backward(&values(x), &values(w.clone()), &vec![1.0; 3 * 4 * 36], None, d, true);
    assert_eq!(values(w.grad(&grads).unwrap()), full.weight);
}

/// The AVX-512 direct kernels against the im2col + gemm path on the
/// model's own layer shapes (and odd ones: a partial channel block, a
/// plane narrower than a vector), with and without a ReLU mask.
#[cfg(target_arch = "x86_64")]
#[test]
fn direct_kernels_match_the_im2col_path() {
    use repro::kernels::conv::{avx512, portable};
    let Some(cpu) = repro::kernels::cpu::Avx512::detect() else {
        println!("skipped: this CPU has no AVX-512, so only the im2col path runs");
        return;
    };
    let shapes = [
        ConvDims { n: 5, c_in: 3, c_out: 64, h: 32, w: 32 },
        ConvDims { n: 6, c_in: 64, c_out: 64, h: 32, w: 32 },
        ConvDims { n: 3, c_in: 64, c_out: 128, h: 16, w: 16 },
        ConvDims { n: 2, c_in: 128, c_out: 256, h: 8, w: 8 },
        ConvDims { n: 3, c_in: 5, c_out: 40, h: 9, w: 13 },
        ConvDims { n: 2, c_in: 7, c_out: 3, h: 3, w: 20 },
    ];
    for (i, d) in shapes.into_iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let (x, w, b) = (random(d.n * d.input_len(), seed), random(d.c_out * d.c_in * 9, seed + 1), random(d.c_out, seed + 2));
        let g = random(d.n * d.output_len(), seed + 3);
        let out = avx512::forward(cpu, &x, &w, &b, d, true);
        assert_close(&format!("{d:?} output"), &out, &portable::forward(&x, &w, &b, d, true));
        for relu_out in [None, Some(out.as_slice())] {
            let ours = avx512::backward(cpu, &x, &w, &g, relu_out, d, true);
            let theirs = portable::backward(&x, &w, &g, relu_out, d, true);
            let name = format!("{d:?} masked {}", relu_out.is_some());
            assert_close(&format!("{name} grad x"), &ours.input.unwrap(), &theirs.input.unwrap());
            assert_close(&format!("{name} grad weight"), &ours.weight, &theirs.weight);
            assert_close(&format!("{name} grad bias"), &ours.bias, &theirs.bias);
        }
    }
}

#[test]
fn inference_batch_norm_gives_burns_values_bit_for_bit() {
    use repro::kernels::norm::batch_norm_eval;
    let device = Device::flex();
    let [n, c, h, w] = [3, 5, 6, 7];
    let x = tensor(&random(n * c * h * w, 30), [n, c, h, w], &device);
    let [gamma, beta, mean] = [31, 32, 33].map(|seed| tensor(&random(c, seed), [c], &device));
    let variance = tensor(&random(c, 34).iter().map(|v| v.abs()).collect::<Vec<_>>(), [c], &device);
    let ours = batch_norm_eval(x.clone(), gamma.clone(), beta.clone(), mean.clone(), variance.clone(), 1e-3);
    let burns = burn::tensor::module::batch_norm(x, gamma, beta, mean, variance, 1e-3);
    assert_eq!(values(ours), values(burns));
}

#[test]
fn dropout_mask_is_the_scalar_hash_whatever_the_path() {
    use repro::kernels::dropout::{apply_mask, dropped};
    for (len, prob, seed) in [(10_000, 0.25, 7u64), (37, 0.5, u64::MAX), (4096 * 2 + 5, 0.1, 1 << 40)] {
        let values = random(len, seed % 1000);
        let out = apply_mask(&values, prob, seed);
        let scale = (1.0 / (1.0 - prob)) as f32;
        for (i, (o, v)) in out.iter().zip(&values).enumerate() {
            let expected = if dropped(seed, i, prob) { 0.0 } else { v * scale };
            assert_eq!(*o, expected, "element {i} of {len}, prob {prob}");
        }
    }
}

#[test]
fn weight_gradient_is_identical_for_one_and_three_threads() {
    let d = ConvDims { n: 13, c_in: 8, c_out: 6, h: 10, w: 10 };
    let (x, w) = (random(13 * 8 * 100, 8), random(6 * 8 * 9, 9));
    let g = random(13 * 6 * 100, 10);
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| conv_kernels::backward(&x, &w, &g, None, d, true))
    };
    let (one, three) = (on(1), on(3));
    assert_eq!(one.weight, three.weight);
    assert_eq!(one.bias, three.bias);
    assert_eq!(one.input, three.input);
}

/// (output, grad x) of sum(pool(x) * r).
fn pooled(shape: [usize; 4], pool: impl Fn(Tensor<4>) -> Tensor<4>) -> [Vec<f32>; 2] {
    let ad = Device::flex().autodiff();
    let [n, c, h, w] = shape;
    let x = tensor(&random(n * c * h * w, 21), shape, &ad).require_grad();
    let r = tensor(&random(n * c * (h / 2) * (w / 2), 22), [n, c, h / 2, w / 2], &ad);
    let out = pool(x.clone());
    let grads = (out.clone() * r).sum().backward();
    [values(out), values(x.grad(&grads).unwrap())]
}

#[test]
fn max_pool_matches_burn_in_value_and_gradient() {
    use burn::nn::pool::MaxPool2dConfig;
    use repro::kernels::pool::max_pool2x2;
    let burn_pool = MaxPool2dConfig::new([2, 2]).init();
    for shape in [[2, 3, 8, 8], [3, 2, 5, 7], [1, 1, 1, 1], [2, 4, 32, 32], [1, 3, 35, 66], [2, 2, 16, 16]] {
        let ours = pooled(shape, max_pool2x2);
        let reference = pooled(shape, |x| burn_pool.forward(x));
        assert_eq!(ours, reference, "{shape:?}");
    }
}

#[test]
fn batch_norm_matches_burn_in_value_statistics_and_every_gradient() {
    use burn::tensor::module::batch_norm_train as burn_norm;
    use repro::kernels::norm::batch_norm_train;
    let ad = Device::flex().autodiff();
    let [n, c, h, w] = [5, 3, 4, 6];
    let run = |ours: bool| {
        let x = (tensor(&random(n * c * h * w, 31), [n, c, h, w], &ad) * 3.0 + 1.0).detach().require_grad();
        let gamma = tensor(&random(c, 32), [c], &ad).require_grad();
        let beta = tensor(&random(c, 33), [c], &ad).require_grad();
        let r = tensor(&random(n * c * h * w, 34), [n, c, h, w], &ad);
        let (out, mean, var) = if ours {
            batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-3)
        } else {
            let t = burn_norm(x.clone(), gamma.clone(), beta.clone(), 1e-3);
            (t.output, t.mean, t.variance)
        };
        let grads = (out.clone() * r).sum().backward();
        [
            values(out),
            values(mean),
            values(var),
            values(x.grad(&grads).unwrap()),
            values(gamma.grad(&grads).unwrap()),
            values(beta.grad(&grads).unwrap()),
        ]
    };
    let (ours, reference) = (run(true), run(false));
    for (name, (a, b)) in ["output", "mean", "variance", "grad x", "grad gamma", "grad beta"].iter().zip(ours.iter().zip(&reference)) {
        assert_close(name, a, b);
    }
}

#[test]
fn the_model_batch_norm_layer_updates_running_statistics_as_burn_does() {
    use burn::nn::BatchNormConfig;
    use repro::model::cnn::{Layer, Value};
    let ad = Device::flex().autodiff();
    let ours = BatchNormConfig::new(4).with_momentum(0.1).with_epsilon(1e-3).init(&ad);
    let burns = ours.clone();
    let x = tensor(&random(3 * 4 * 25, 41), [3, 4, 5, 5], &ad) * 2.0 + 0.5;
    for _ in 0..3 {
        let Value::Maps(a) = Layer::Norm(&ours).apply(Value::Maps(x.clone())) else { panic!("maps in, maps out") };
        assert_close("output", &values(a), &values(burns.forward(x.clone())));
    }
    assert_close("running mean", &values(ours.running_mean.value_sync()), &values(burns.running_mean.value_sync()));
    assert_close("running var", &values(ours.running_var.value_sync()), &values(burns.running_var.value_sync()));
}

/// burn's device RNG is process-wide: tests that seed it and draw take turns.
static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn dropout_drops_the_asked_fraction_scales_the_rest_and_masks_the_gradient_alike() {
    use burn::nn::DropoutConfig;
    use repro::kernels::dropout::dropout;
    let ad = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.25).init();
    let n = 64 * 1000;
    let x_values: Vec<f32> = random(n, 51).iter().map(|v| v + 2.0).collect();
    let x = tensor(&x_values, [64, 1000], &ad).require_grad();
    let r = random(n, 52);
    repro::kernels::dropout::seed_stream(7);
    let out = dropout(&layer, x.clone());
    let grads = (out.clone() * tensor(&r, [64, 1000], &ad)).sum().backward();
    let (out, grad) = (values(out), values(x.grad(&grads).unwrap()));
    let dropped = out.iter().filter(|v| **v == 0.0).count() as f64 / n as f64;
    assert!((dropped - 0.25).abs() < 0.01, "dropped fraction {dropped}");
    for i in 0..n {
        let kept = out[i] != 0.0;
        let expected = if kept { x_values[i] / 0.75 } else { 0.0 };
        assert!((out[i] - expected).abs() <= 1e-6 * expected.abs(), "out[{i}] = {}, expected {expected}", out[i]);
        let expected_grad = if kept { r[i] / 0.75 } else { 0.0 };
        assert!((grad[i] - expected_grad).abs() <= 1e-6, "grad[{i}] = {}, expected {expected_grad}", grad[i]);
    }
}

#[test]
fn dropout_follows_the_thread_seed_stream_and_is_the_identity_outside_training() {
    use burn::nn::DropoutConfig;
    use repro::kernels::dropout::{dropout, seed_stream};
    let ad = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.5).init();
    let x = tensor(&vec![1.0; 4096], [4, 1024], &ad);
    let masked = |seed| {
        seed_stream(seed);
        values(dropout(&layer, x.clone()))
    };
    assert_eq!(masked(3), masked(3));
    assert_ne!(masked(3), masked(4));
    let other = std::thread::spawn(move || {
        let x = tensor(&vec![1.0; 4096], [4, 1024], &Device::flex().autodiff());
        seed_stream(3);
        values(dropout(&DropoutConfig::new(0.5).init(), x))
    });
    assert_eq!(other.join().unwrap(), masked(3), "another thread with the same seed drops the same units");
    let plain = Device::flex();
    let y = tensor(&vec![1.0; 4096], [4, 1024], &plain);
    assert_eq!(values(dropout(&layer, y)), vec![1.0; 4096]);
}

/// The host seed stream gives the seeds burn-flex's device RNG gave (the
/// draws the dropout seeds came from before), so results did not move.
#[test]
fn the_seed_stream_draws_what_flex_drew() {
    use burn::tensor::Distribution;
    use repro::kernels::dropout::{next_seed, seed_stream};
    let _rng = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let flex = Device::flex();
    for seed in [0u64, 7, 1 << 40] {
        flex.seed(seed);
        seed_stream(seed);
        for _ in 0..3 {
            let bits = values(Tensor::<1>::random([2], Distribution::Default, &flex));
            assert_eq!(next_seed(), (bits[0].to_bits() as u64) << 32 | bits[1].to_bits() as u64, "seed {seed}");
        }
    }
}

/// The compositions of burn operations that backends without the own
/// kernels run (`kernels::*::generic`), checked here on flex against them.
#[test]
fn the_generic_compositions_match_the_own_kernels_on_flex() {
    use repro::kernels::{conv, pool};
    for d in [ConvDims { n: 3, c_in: 5, c_out: 7, h: 9, w: 6 }, ConvDims { n: 2, c_in: 16, c_out: 8, h: 8, w: 8 }] {
        for relu in [false, true] {
            let ours = run(d, |x, w, b| conv3x3(x, w, b, relu));
            let generic = run(d, |x, w, b| conv::generic::conv3x3(x, w, b, relu));
            for (i, (a, b)) in ours.iter().zip(&generic).enumerate() {
                assert_close(&format!("generic conv {d:?} relu {relu} #{i}"), b, a);
            }
        }
    }
    for shape in [[2, 3, 8, 8], [1, 2, 5, 7]] {
        assert_eq!(pooled(shape, pool::max_pool2x2), pooled(shape, pool::generic::max_pool2x2), "generic pool {shape:?}");
    }
}
