//! What this CPU offers the kernels, as proof tokens, and the compute path
//! that follows from it: part of every model stage's key, since the paths
//! are not bit-identical.
//!
//! Every AVX-512 function takes a token, and only `detect` makes one, so
//! "the caller checked the CPU" is a fact of the types, not of call order.

use std::collections::BTreeMap;

/// Proof that this CPU runs AVX-512 F.
#[derive(Clone, Copy, Debug)]
pub struct Avx512 {
    _private: (),
}

/// Proof that this CPU runs AVX-512 F and DQ (64-bit lane multiplies).
#[derive(Clone, Copy, Debug)]
pub struct Avx512Dq {
    _private: (),
}

impl Avx512 {
    /// A token when the CPU runs AVX-512 F (the check is cached by std).
    pub fn detect() -> Option<Avx512> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            return Some(Avx512 { _private: () });
        }
        None
    }
}

impl Avx512Dq {
    pub fn detect() -> Option<Avx512Dq> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            return Some(Avx512Dq { _private: () });
        }
        None
    }
}

/// The x86-64 micro-architecture level this CPU reaches (psABI levels);
/// the gemm crate picks its kernels by the same features.
pub fn cpu_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let v4 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512cd")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl");
        let v3 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("bmi2");
        let v2 = is_x86_feature_detected!("sse4.2") && is_x86_feature_detected!("popcnt");
        if v4 {
            "x86-64-v4"
        } else if v3 {
            "x86-64-v3"
        } else if v2 {
            "x86-64-v2"
        } else {
            "x86-64"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// Backend, the kernel path of each op, and the CPU level, as a model
/// stage computes here.
pub fn compute_path() -> BTreeMap<String, String> {
    let conv = if Avx512::detect().is_some() { "direct-avx512" } else { "im2col-gemm" };
    let simd = |yes: bool| if yes { "avx512" } else { "portable" };
    [
        ("backend", "flex"),
        ("conv", conv),
        ("pool", simd(Avx512::detect().is_some())),
        ("dropout", simd(Avx512Dq::detect().is_some())),
        ("cpu", cpu_level()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
