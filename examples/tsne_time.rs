use std::time::Instant;
fn main() {
    let n = 10000;
    let d = 50;
    let (x, _) = repro::bench_tsne::clusters(n, d, 7);
    let t = Instant::now();
    let p = repro::embedding::affinities::joint(&x, n, d, 30.0);
    println!("joint {:?}", t.elapsed());
    let t = Instant::now();
    let init = repro::embedding::tsne::initial(&x, n, d, 2, 0);
    println!("init {:?}", t.elapsed());
    let params = repro::embedding::tsne::TsneParams::default();
    let t = Instant::now();
    for _ in 0..20 {
        std::hint::black_box(repro::embedding::tsne::gradient(&p, &init, &params, 12.0));
    }
    println!("20 gradients at init {:?}", t.elapsed());
    let t = Instant::now();
    let y = repro::embedding::tsne::optimise(&p, init, &params, &|_, _| {});
    println!("optimise {:?}", t.elapsed());
    let t = Instant::now();
    for _ in 0..20 {
        std::hint::black_box(repro::embedding::tsne::gradient(&p, &y, &params, 1.0));
    }
    println!("20 gradients at end {:?}", t.elapsed());
}
