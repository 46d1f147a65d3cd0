//! Devices. burn 0.22 picks the backend at run time from the [`Device`].

use burn::tensor::Device;

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's `flex` CPU backend (pure Rust).
    Cpu,
    /// burn's wgpu backend on the default adapter (Vulkan/Metal/DX12; Mesa's lavapipe
    /// software Vulkan where there is no GPU).
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// burn's CUDA backend, first GPU.
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Backend {
    /// The inference device.
    pub fn device(self) -> Device {
        match self {
            Self::Cpu => Device::flex(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            #[cfg(feature = "cuda")]
            Self::Cuda => Device::cuda(0),
        }
    }

    /// The training device (autodiff enabled).
    pub fn training_device(self) -> Device {
        self.device().autodiff()
    }
}
