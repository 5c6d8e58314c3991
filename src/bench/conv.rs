//! `repro bench conv`: the model's five convolutions through both kernel
//! paths, the AVX-512 direct one and im2col + gemm, in one run: forward,
//! weight gradient and input gradient milliseconds and GFLOP/s.

use crate::kernels::conv::{ConvDims, ConvGrads, portable};
use crate::terminal::say;
use std::time::Instant;

/// (c_in, c_out, side) of the model's convolutions, in order.
const SHAPES: [(usize, usize, usize); 5] = [(3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8)];

type Forward = Box<dyn Fn(&[f32], &[f32], &[f32], ConvDims, bool) -> Vec<f32>>;
type Backward = Box<dyn Fn(&[f32], &[f32], &[f32], Option<&[f32]>, ConvDims, bool) -> ConvGrads>;

pub fn conv(batch: usize, rounds: usize) -> anyhow::Result<()> {
    let mut paths: Vec<(&str, Forward, Backward)> = vec![("im2col + gemm", Box::new(portable::forward), Box::new(portable::backward))];
    #[cfg(target_arch = "x86_64")]
    if let Some(cpu) = crate::kernels::cpu::Avx512::detect() {
        use crate::kernels::conv::avx512;
        let forward: Forward = Box::new(move |x, w, b, d, relu| avx512::forward(cpu, x, w, b, d, relu));
        let backward: Backward = Box::new(move |x, w, g, o, d, want| avx512::backward(cpu, x, w, g, o, d, want));
        paths.insert(0, ("direct AVX-512", forward, backward));
    }
    say!("batch {batch}, median of {rounds} rounds; ms (GFLOP/s); the convolutions' ReLU included");
    say!("{:<16} {:<15} {:>16} {:>16} {:>16}", "conv", "path", "forward", "weight grad", "input grad");
    for (c_in, c_out, side) in SHAPES {
        let d = ConvDims { n: batch, c_in, c_out, h: side, w: side };
        for (name, forward, backward) in &paths {
            let [f, w, x] = time_paths(d, forward, backward, rounds.max(1));
            let gflop = 2.0 * (batch * c_out * c_in * 9 * side * side) as f64 / 1e9;
            let cell = |ms: f64| format!("{ms:7.2} ({:4.0})", gflop / ms * 1e3);
            say!("{:<16} {:<15} {:>16} {:>16} {:>16}", format!("{c_in}->{c_out} {side}x{side}"), name, cell(f), cell(w), cell(x));
        }
    }
    Ok(())
}

/// Median ms of forward, of the weight gradient alone, and of what asking
/// for the input gradient adds.
fn time_paths(d: ConvDims, forward: &Forward, backward: &Backward, rounds: usize) -> [f64; 3] {
    let values =
        |len: usize, seed: usize| (0..len).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect::<Vec<f32>>();
    let (x, weight) = (values(d.n * d.input_len(), 1), values(d.c_out * d.c_in * 9, 2));
    let (bias, grad) = (values(d.c_out, 3), values(d.n * d.output_len(), 4));
    let out = forward(&x, &weight, &bias, d, true);
    let f = median_ms(rounds, || drop(forward(&x, &weight, &bias, d, true)));
    let w = median_ms(rounds, || drop(backward(&x, &weight, &grad, Some(&out), d, false)));
    let both = median_ms(rounds, || drop(backward(&x, &weight, &grad, Some(&out), d, true)));
    [f, w, (both - w).max(0.0)]
}

fn median_ms(rounds: usize, mut run: impl FnMut()) -> f64 {
    run();
    let mut ms: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    super::median(&mut ms)
}
