//! The Vulkan driver behind a device, by the adapter's name: the driver's
//! name and version (`NVIDIA 580.159.04`, `llvmpipe Mesa 22.3.6 (LLVM
//! 15.0.6, 256 bits)`), so results of two driver versions, which may
//! compile the same shader differently, never share a key.

use burn_dispatch::devices::wgpu::wgpu;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

/// What the driver of the Vulkan adapter named `device` calls itself, or
/// `unknown` when no adapter has that name.
pub fn driver_of(device: &str) -> String {
    static ADAPTERS: OnceLock<Vec<wgpu::AdapterInfo>> = OnceLock::new();
    let adapters = ADAPTERS.get_or_init(adapters);
    adapters
        .iter()
        .find(|a| a.name == device)
        .map(|a| format!("{} {}", a.driver, a.driver_info).trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn adapters() -> Vec<wgpu::AdapterInfo> {
    let mut options = wgpu::InstanceDescriptor::new_without_display_handle();
    options.backends = wgpu::Backends::VULKAN;
    let instance = wgpu::Instance::new(options);
    ready(instance.enumerate_adapters(wgpu::Backends::VULKAN)).iter().map(|a| a.get_info()).collect()
}

/// The value of a future that native wgpu completes without waiting (its
/// adapter list is ready when asked), polled until it is.
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::yield_now();
    }
}
