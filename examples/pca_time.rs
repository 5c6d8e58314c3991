use std::time::Instant;
fn main() {
    let n = 10000;
    let d = 512;
    let (x, _) = repro::bench_tsne::clusters(n, d, 3);
    let t = Instant::now();
    let xc = repro::embedding::distances::center(&x, n, d);
    println!("center {:?}", t.elapsed());
    let t = Instant::now();
    let s = repro::embedding::distances::scatter(&xc, n, d);
    println!("scatter {:?}", t.elapsed());
    let cov: Vec<f64> = s.into_iter().map(|v| v as f64).collect();
    let t = Instant::now();
    let (v, _) = repro::embedding::eigen::top_eigen(&cov, d, 50, 0);
    println!("eigen {:?} {:?}", t.elapsed(), &v[..12]);
}
