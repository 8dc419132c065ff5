//! A device to render with, chosen from the environment, and reading a picture back from it.
//!
//! Without a GPU, wgpu finds Mesa's lavapipe (Vulkan on the CPU) or, without a Vulkan driver, Mesa's llvmpipe
//! through EGL (its GL backend); `WGPU_BACKEND=vulkan|gl` and `WGPU_ADAPTER_NAME=...` choose explicitly.
//! Nothing here assumes a GPU, and no wgpu error panics: work runs inside error scopes
//! ([`Gpu::scoped`]), and whatever escapes them (or a lost device) is kept and reported by the next
//! [`Gpu::scoped`] instead of wgpu's default handler, which panics.

use std::sync::{Arc, Mutex};

use crate::ViewerError;
use crate::render::Capabilities;

/// What to install on a machine where wgpu finds no adapter at all.
pub const NO_ADAPTER_HELP: &str = "on a machine without a GPU, install Mesa's CPU drivers: \
    apt-get install mesa-vulkan-drivers (Vulkan, lavapipe) or apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri \
    (OpenGL, llvmpipe); on a GPU machine, install its vendor's Vulkan or OpenGL driver";

/// A wgpu device and what it runs on.
#[derive(Debug)]
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's description.
    pub info: wgpu::AdapterInfo,
    /// What the device can do that the renderer cares about.
    pub capabilities: Capabilities,
    /// Errors no scope caught, and the device's loss: reported by the next [`Gpu::scoped`].
    escaped: Arc<Mutex<Vec<String>>>,
}

impl Gpu {
    /// A device for offscreen rendering on the backends `WGPU_BACKEND` names (all of them by default).
    pub fn headless() -> Result<Self, ViewerError> {
        Self::headless_with(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
    }

    /// A device for offscreen rendering on `backends` only (the tests draw the same pictures on each).
    pub fn headless_on(backends: wgpu::Backends) -> Result<Self, ViewerError> {
        Self::headless_with(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        })
    }

    fn headless_with(descriptor: wgpu::InstanceDescriptor) -> Result<Self, ViewerError> {
        let backends = descriptor.backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(
            &instance, None,
        ))
        .map_err(|e| {
            ViewerError::Gpu(format!(
                "no graphics adapter on backends {backends:?}: {e} ({NO_ADAPTER_HELP})"
            ))
        })?;
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
        Ok(Self::from_parts(
            device,
            queue,
            info,
            Capabilities::of(&adapter),
        ))
    }

    /// A device opened elsewhere (the desktop window's), with wgpu's panicking error handler replaced.
    #[must_use]
    pub fn from_parts(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        capabilities: Capabilities,
    ) -> Self {
        let escaped = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&escaped);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            record(&sink, one_line(&error.to_string()));
        }));
        let sink = Arc::clone(&escaped);
        device.set_device_lost_callback(move |reason, message| {
            // Dropping the device at exit also "loses" it; that is no error.
            if reason != wgpu::DeviceLostReason::Destroyed {
                record(
                    &sink,
                    format!("the graphics device was lost ({reason:?}): {message}"),
                );
            }
        });
        Self {
            device,
            queue,
            info,
            capabilities,
            escaped,
        }
    }

    /// Run `work` inside validation, out-of-memory and internal error scopes: any error wgpu reports while it
    /// runs (or reported earlier outside a scope, or the device's loss) becomes `Err` naming `what` failed.
    pub fn scoped<T>(
        &self,
        what: &str,
        work: impl FnOnce() -> Result<T, ViewerError>,
    ) -> Result<T, ViewerError> {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let result = work();
        // Scopes pop in reverse order of their pushing.
        let caught = [
            pollster::block_on(internal.pop()),
            pollster::block_on(validation.pop()),
            pollster::block_on(out_of_memory.pop()),
        ];
        let mut problems: Vec<String> = caught
            .into_iter()
            .flatten()
            .map(|e| one_line(&e.to_string()))
            .collect();
        problems.extend(self.take_escaped());
        match problems.first() {
            Some(first) => Err(ViewerError::Gpu(format!(
                "{what} failed on {}: {first}",
                self.info.name
            ))),
            None => result,
        }
    }

    /// Errors reported outside any scope since the last call (the desktop window checks them every frame).
    #[must_use]
    pub fn take_escaped(&self) -> Vec<String> {
        self.escaped
            .lock()
            .map(|mut errors| std::mem::take(&mut *errors))
            .unwrap_or_default()
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

/// wgpu's errors span lines ("Validation Error", "Caused by:", the call, the reason): one line for a message,
/// each part after a colon.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != "Caused by:")
        .collect::<Vec<_>>()
        .join(": ")
}

/// Keep an error for the next check; a poisoned lock (a panic elsewhere) must not hide it.
fn record(sink: &Mutex<Vec<String>>, message: String) {
    match sink.lock() {
        Ok(mut errors) => errors.push(message),
        Err(poisoned) => poisoned.into_inner().push(message),
    }
}
