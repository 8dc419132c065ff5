//! A device to render with, chosen from the environment, and reading a picture back from it.
//!
//! Without a GPU, wgpu finds Mesa's lavapipe (Vulkan on the CPU); `WGPU_BACKEND=vulkan|gl` and
//! `WGPU_ADAPTER_NAME=...` choose explicitly. Nothing here assumes a GPU.

use crate::ViewerError;

/// A wgpu device and what it runs on.
#[derive(Debug)]
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's description.
    pub info: wgpu::AdapterInfo,
}

impl Gpu {
    /// A device for offscreen rendering.
    pub fn headless() -> Result<Self, ViewerError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(&instance, None))
            .map_err(|e| ViewerError::Gpu(format!("no graphics adapter: {e} (on a machine without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers)")))?;
        let info = adapter.get_info();
        let limits = wgpu::Limits {
            // Large models need large buffers: take what the adapter offers.
            max_buffer_size: adapter.limits().max_buffer_size,
            ..wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits())
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("exhibit"),
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| ViewerError::Gpu(format!("cannot open a device on {}: {e}", info.name)))?;
        Ok(Self {
            device,
            queue,
            info,
        })
    }

    /// One line naming the adapter, its driver and backend: what the `render` JSON reports.
    #[must_use]
    pub fn adapter_description(&self) -> String {
        let info = &self.info;
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{} ({:?}, {:?}; {driver})",
            info.name, info.backend, info.device_type
        )
    }

    /// Copy an RGBA8 texture (sRGB or not) into memory, rows tightly packed.
    pub fn read_rgba8(&self, texture: &wgpu::Texture) -> Result<image::RgbaImage, ViewerError> {
        let (width, height) = (texture.width(), texture.height());
        let row = width * 4;
        let padded =
            row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: u64::from(padded) * u64::from(height),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(height),
                },
            },
            texture.size(),
        );
        self.queue.submit([encoder.finish()]);
        let slice = buffer.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| ViewerError::Gpu(format!("waiting for the picture: {e}")))?;
        let mapped = slice
            .get_mapped_range()
            .map_err(|e| ViewerError::Gpu(format!("reading the picture back: {e}")))?;
        let mut pixels = Vec::with_capacity((row * height) as usize);
        for y in 0..height as usize {
            let start = y * padded as usize;
            pixels.extend_from_slice(&mapped[start..start + row as usize]);
        }
        drop(mapped);
        buffer.unmap();
        if matches!(
            texture.format(),
            wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb
        ) {
            for p in pixels.chunks_exact_mut(4) {
                p.swap(0, 2);
            }
        }
        image::RgbaImage::from_raw(width, height, pixels)
            .ok_or_else(|| ViewerError::Gpu("picture size mismatch".into()))
    }

    /// Wait until the GPU has finished everything submitted.
    pub fn wait(&self) -> Result<(), ViewerError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| ViewerError::Gpu(format!("waiting for the GPU: {e}")))
    }
}
