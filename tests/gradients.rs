//! Each layer's gradient (inputs and weights) against central finite
//! differences on a tiny input.

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{AdaptiveAvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{BatchNormConfig, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};

mod common;
use common::{random, tensor, values};

const H: f32 = 1e-2;

/// Compares `analytic` with central differences of `f` at every 7th
/// coordinate (every one of small tensors). Perturbed tensors are made on the autodiff device, so layers
/// that behave differently in training (batch norm) take the same path.
fn fd_check<const D: usize>(name: &str, base: &[f32], shape: [usize; D], analytic: &[f32], f: impl Fn(Tensor<D>) -> f64) {
    fd_check_smooth(name, base, shape, analytic, f, |_, _| true);
}

/// As `fd_check`, but skips a coordinate where `smooth(plus, minus)` says the two perturbed points lie on
/// different pieces of a piecewise-linear function (a ReLU kink between them), where a central difference
/// means nothing. At least half the coordinates must still be checked.
fn fd_check_smooth<const D: usize>(
    name: &str,
    base: &[f32],
    shape: [usize; D],
    analytic: &[f32],
    f: impl Fn(Tensor<D>) -> f64,
    smooth: impl Fn(Tensor<D>, Tensor<D>) -> bool,
) {
    let device = Device::flex().autodiff();
    let h = H;
    let (mut checked, mut skipped) = (0, 0);
    let step = if base.len() > 30 { 7 } else { 1 };
    for i in (0..base.len()).step_by(step) {
        let (mut plus, mut minus) = (base.to_vec(), base.to_vec());
        plus[i] += h;
        minus[i] -= h;
        if !smooth(tensor(&plus, shape, &device), tensor(&minus, shape, &device)) {
            skipped += 1;
            continue;
        }
        let numeric = (f(tensor(&plus, shape, &device)) - f(tensor(&minus, shape, &device))) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        assert!((a - numeric).abs() <= 2e-2 * a.abs().max(numeric.abs()) + 2e-3, "{name}[{i}]: autodiff {a}, finite difference {numeric}");
        checked += 1;
    }
    assert!(checked > 2 && checked >= skipped, "{name}: too few coordinates checked ({checked}, {skipped} skipped)");
}

/// Whether every element of `a` lies on the same side of zero (of a ReLU's kink) as in `b`.
fn same_side<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> bool {
    values(a).iter().zip(values(b)).all(|(p, m)| (*p > 0.0) == (m > 0.0))
}

/// sum(out * r): a scalar whose gradient reaches every output element.
fn weighted<const D: usize>(out: Tensor<D>, r: &Tensor<D>) -> Tensor<1> {
    (out * r.clone()).sum()
}

#[test]
fn conv2d_same_padding() {
    let ad = Device::flex().autodiff();
    let conv = Conv2dConfig::new([2, 3], [3, 3]).with_padding(PaddingConfig2d::Same).init(&ad);
    let x = random(2 * 2 * 5 * 5, 1);
    let r = tensor(&random(2 * 3 * 5 * 5, 2), [2, 3, 5, 5], &ad);
    let xt = tensor(&x, [2, 2, 5, 5], &ad).require_grad();
    let grads = weighted(conv.forward(xt.clone()), &r).backward();
    let gx = values(xt.grad(&grads).unwrap());
    let gw = values(conv.weight.val().grad(&grads).unwrap());
    let w = values(conv.weight.val());
    let eval = |conv: &burn::nn::conv::Conv2d, x: Tensor<4>| weighted(conv.forward(x), &r).into_scalar::<f32>() as f64;
    fd_check("conv input", &x, [2, 2, 5, 5], &gx, |x| eval(&conv, x));
    fd_check("conv weight", &w, [3, 2, 3, 3], &gw, |w| {
        let mut c = conv.clone();
        c.weight = Param::from_tensor(w);
        eval(&c, tensor(&x, [2, 2, 5, 5], &ad))
    });
}

#[test]
fn batch_norm_in_training_mode() {
    let ad = Device::flex().autodiff();
    let bn = BatchNormConfig::new(3).with_epsilon(1e-3).init(&ad);
    let x = random(4 * 3 * 2 * 2, 3);
    let r = tensor(&random(4 * 3 * 2 * 2, 4), [4, 3, 2, 2], &ad);
    let xt = tensor(&x, [4, 3, 2, 2], &ad).require_grad();
    let grads = weighted(bn.forward(xt.clone()), &r).backward();
    let gx = values(xt.grad(&grads).unwrap());
    let gg = values(bn.gamma.val().grad(&grads).unwrap());
    fd_check("batch norm input", &x, [4, 3, 2, 2], &gx, |x| weighted(bn.forward(x), &r).into_scalar::<f32>() as f64);
    fd_check("batch norm gamma", &values(bn.gamma.val()), [3], &gg, |g| {
        let mut b = bn.clone();
        b.gamma = Param::from_tensor(g);
        weighted(b.forward(tensor(&x, [4, 3, 2, 2], &ad)), &r).into_scalar::<f32>() as f64
    });
}

#[test]
fn max_pool_and_global_average_pool() {
    let ad = Device::flex().autodiff();
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let gap = AdaptiveAvgPool2dConfig::new([1, 1]).init();
    // Distinct values keep each window's maximum away from ties.
    let x: Vec<f32> = (0..2 * 2 * 4 * 4).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
    let r = tensor(&random(2 * 2 * 2 * 2, 5), [2, 2, 2, 2], &ad);
    let xt = tensor(&x, [2, 2, 4, 4], &ad).require_grad();
    let grads = weighted(pool.forward(xt.clone()), &r).backward();
    fd_check("max pool", &x, [2, 2, 4, 4], &values(xt.grad(&grads).unwrap()), |x| {
        weighted(pool.forward(x), &r).into_scalar::<f32>() as f64
    });
    let r2 = tensor(&random(4, 6), [2, 2, 1, 1], &ad);
    let xt = tensor(&x, [2, 2, 4, 4], &ad).require_grad();
    let grads = weighted(gap.forward(xt.clone()), &r2).backward();
    fd_check("global average pool", &x, [2, 2, 4, 4], &values(xt.grad(&grads).unwrap()), |x| {
        weighted(gap.forward(x), &r2).into_scalar::<f32>() as f64
    });
}

#[test]
fn dense_relu_and_cross_entropy() {
    let ad = Device::flex().autodiff();
    // Seeded weights: burn's initialiser draws from a process-wide RNG that parallel tests share.
    let mut dense = LinearConfig::new(6, 4).init(&ad);
    dense.weight = Param::from_tensor(tensor(&random(6 * 4, 8), [6, 4], &ad));
    dense.bias = Some(Param::from_tensor(tensor(&random(4, 9), [4], &ad)));
    let x = random(3 * 6, 7);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 3, 1], [3]), &ad);
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let loss = |d: &burn::nn::Linear, x: Tensor<2>| loss_fn.forward(relu(d.forward(x)).add_scalar(0.1), y.clone());
    let xt = tensor(&x, [3, 6], &ad).require_grad();
    let grads = loss(&dense, xt.clone()).backward();
    let gx = values(xt.grad(&grads).unwrap());
    let gw = values(dense.weight.val().grad(&grads).unwrap());
    let with_weight = |w: Tensor<2>| {
        let mut d = dense.clone();
        d.weight = Param::from_tensor(w);
        d
    };
    fd_check_smooth(
        "dense + ReLU + cross-entropy input",
        &x,
        [3, 6],
        &gx,
        |x| loss(&dense, x).into_scalar::<f32>() as f64,
        |p, m| same_side(dense.forward(p), dense.forward(m)),
    );
    let xt = || tensor(&x, [3, 6], &ad);
    fd_check_smooth(
        "dense weight",
        &values(dense.weight.val()),
        [6, 4],
        &gw,
        |w| loss(&with_weight(w), xt()).into_scalar::<f32>() as f64,
        |p, m| same_side(with_weight(p).forward(xt()), with_weight(m).forward(xt())),
    );
}

/// The kink guard is needed: with a pre-activation inside the step, the central difference is wrong.
#[test]
fn central_difference_across_a_relu_kink_is_skipped_not_trusted() {
    let base = [0.004f32, 0.5, -0.7, 0.9];
    let f = |x: Tensor<1>| relu(x).sum().into_scalar::<f32>() as f64;
    let analytic = [1.0f32, 1.0, 0.0, 1.0];
    let outcome = std::panic::catch_unwind(|| fd_check("relu", &base, [4], &analytic, f));
    assert!(outcome.is_err(), "a central difference across the kink should disagree with the slope");
    fd_check_smooth("relu", &base, [4], &analytic, f, same_side);
}

#[test]
fn conv3x3_extension_input_weight_and_bias() {
    use repro::kernels::conv::conv3x3;
    let ad = Device::flex().autodiff();
    // 5 images (one more than a kernel task holds) on a non-square plane.
    let (x, w, b) = (random(5 * 2 * 4 * 6, 11), random(3 * 2 * 9, 12), random(3, 13));
    let r = tensor(&random(5 * 3 * 4 * 6, 14), [5, 3, 4, 6], &ad);
    let (xt, wt, bt) =
        (tensor(&x, [5, 2, 4, 6], &ad).require_grad(), tensor(&w, [3, 2, 3, 3], &ad).require_grad(), tensor(&b, [3], &ad).require_grad());
    let grads = weighted(conv3x3(xt.clone(), wt.clone(), bt.clone(), false), &r).backward();
    let (gx, gw, gb) = (values(xt.grad(&grads).unwrap()), values(wt.grad(&grads).unwrap()), values(bt.grad(&grads).unwrap()));
    let eval = |x: Tensor<4>, w: Tensor<4>, b: Tensor<1>| weighted(conv3x3(x, w, b, false), &r).into_scalar::<f32>() as f64;
    fd_check("conv3x3 input", &x, [5, 2, 4, 6], &gx, |x| eval(x, tensor(&w, [3, 2, 3, 3], &ad), tensor(&b, [3], &ad)));
    fd_check("conv3x3 weight", &w, [3, 2, 3, 3], &gw, |w| eval(tensor(&x, [5, 2, 4, 6], &ad), w, tensor(&b, [3], &ad)));
    fd_check("conv3x3 bias", &b, [3], &gb, |b| eval(tensor(&x, [5, 2, 4, 6], &ad), tensor(&w, [3, 2, 3, 3], &ad), b));
}
