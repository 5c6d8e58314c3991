//! Which backend the model runs on, chosen once per process by `--backend`:
//! burn-flex with the own CPU kernels (the default), or burn's Vulkan
//! backend (cargo feature `vulkan`), where the model's ops are composed of
//! burn operations (`kernels::*::generic`). The backend and its device
//! enter every model stage's key through `path`, so numbers from two
//! backends never share a fingerprint.

use burn::tensor::Device;
use std::collections::BTreeMap;

// No clap derive here: this file is part of every model stage's key, and
// so would every crate it names be (`--backend` parses it with FromStr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// burn-flex on the CPU, with the own AVX-512 / portable kernels.
    Flex,
    /// burn's Vulkan backend (wgpu, SPIR-V) on the first Vulkan device:
    /// a GPU when there is one, else a CPU driver such as llvmpipe.
    Vulkan,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(text: &str) -> Result<BackendKind, String> {
        match text {
            "flex" => Ok(BackendKind::Flex),
            "vulkan" => Ok(BackendKind::Vulkan),
            other => Err(format!("unknown backend `{other}`: flex or vulkan")),
        }
    }
}

/// The backend, its inference device and the compute path that keys its results.
#[derive(Clone, Debug)]
pub struct Compute {
    pub kind: BackendKind,
    device: Device,
    path: BTreeMap<String, String>,
}

impl Compute {
    pub fn flex() -> Compute {
        Compute { kind: BackendKind::Flex, device: Device::flex(), path: crate::kernels::cpu::compute_path() }
    }

    /// Opens the backend's device now, so a missing feature or driver is an
    /// error before any stage runs.
    pub fn open(kind: BackendKind) -> anyhow::Result<Compute> {
        match kind {
            BackendKind::Flex => Ok(Compute::flex()),
            BackendKind::Vulkan => open_vulkan(),
        }
    }

    /// The device stages run inference on; training uses its autodiff twin.
    pub fn device(&self) -> Device {
        self.device.clone()
    }

    /// The backend and device as they enter the key and the provenance.
    pub fn path(&self) -> BTreeMap<String, String> {
        self.path.clone()
    }
}

/// Whether tensors on `device` run on burn-flex (where the own kernels apply).
pub fn on_flex(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// The device weights are initialised on, whatever the backend (then
/// forked to it), so every backend starts from the same weights; dropout
/// seeds come from the host (`kernels::dropout::next_seed`).
pub fn rng_device() -> Device {
    Device::flex()
}

/// Held while seeding `rng_device` and drawing from it, which is global to
/// the process, so stages running at once cannot interleave their draws.
pub static RNG_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(not(feature = "vulkan"))]
fn open_vulkan() -> anyhow::Result<Compute> {
    anyhow::bail!(
        "--backend vulkan: this repro was built without the Vulkan backend; build it with `cargo build --release --features vulkan`"
    )
}

#[cfg(feature = "vulkan")]
fn open_vulkan() -> anyhow::Result<Compute> {
    let devices = vulkan_devices();
    let choice = std::env::var("REPRO_VULKAN_DEVICE").ok();
    let index = match &choice {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| anyhow::anyhow!("REPRO_VULKAN_DEVICE={text}: expected the index of a Vulkan device (0 for the first)"))?,
        None => 0,
    };
    let Some(device) = devices.get(index).cloned() else {
        if devices.is_empty() {
            anyhow::bail!(
                "--backend vulkan: no Vulkan device found. Install the Vulkan loader and a driver: the GPU vendor's, or for a CPU device Debian's `libvulkan1 mesa-vulkan-drivers` (llvmpipe); `vulkaninfo --summary` lists what the loader sees"
            );
        }
        anyhow::bail!("REPRO_VULKAN_DEVICE={index}: there are only {} Vulkan device(s)", devices.len());
    };
    let identity = device.identity();
    let name = identity.as_ref().map_or_else(|| "unknown".to_string(), |i| i.name.clone());
    let compiler = identity.as_ref().map_or_else(|| "unknown".to_string(), |i| i.fingerprint.clone());
    let path = [("backend", "vulkan".to_string()), ("device", name), ("compiler", compiler)];
    Ok(Compute { kind: BackendKind::Vulkan, device, path: path.into_iter().map(|(k, v)| (k.to_string(), v)).collect() })
}

/// Every adapter on the Vulkan API, GPUs first (discrete, integrated,
/// virtual), then CPU devices such as llvmpipe.
#[cfg(feature = "vulkan")]
fn vulkan_devices() -> Vec<Device> {
    use burn_dispatch::devices::{CubeDevice, WgpuBackend, WgpuDevice, WgpuDeviceKind};
    let kinds = [WgpuDeviceKind::DiscreteGpu(0), WgpuDeviceKind::IntegratedGpu(0), WgpuDeviceKind::VirtualGpu(0), WgpuDeviceKind::Cpu];
    let mut devices: Vec<Device> = Vec::new();
    for kind in kinds {
        let seed = CubeDevice::Wgpu(WgpuDevice::new(kind).on(WgpuBackend::Vulkan));
        for id in CubeDevice::enumerate(seed.to_id()) {
            let device = Device::new(CubeDevice::from_id(id));
            if !devices.contains(&device) {
                devices.push(device);
            }
        }
    }
    devices
}
