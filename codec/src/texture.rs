//! Textures: the images a mesh's texture coordinates point into, kept as the bytes the scanner wrote.
//!
//! The codec embeds an image's bytes unchanged and records them; it reads the header first (format and size,
//! refusing sizes no evidence needs before anything is allocated). [`TextureImage::decode_rgba8`] is the one
//! decoder every part uses (bounded by the same limits); whoever
//! transforms an image (ingest's phone levels) decodes, measures the change against the source pixels and
//! hands the measurement in with the new bytes ([`ImageOrigin`]); the manifest carries it.

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest side of a texture exhibit accepts (16384 texels, the most any GPU samples); larger headers are
/// refused before decoding, so an image bomb costs nothing.
pub const MAX_TEXTURE_SIDE: u32 = 16_384;

/// A triangle with this image number has no texture (drawn with vertex colour or the base colour).
pub const NO_IMAGE: u32 = u32::MAX;

/// How an image file is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG (lossless).
    Png,
    /// JPEG (lossy, as scanners deliver most atlases).
    Jpeg,
    /// WebP (`EXT_texture_webp` in glTF).
    Webp,
}

impl ImageFormat {
    /// The glTF `mimeType`.
    #[must_use]
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// The format a glTF `mimeType` names.
    #[must_use]
    pub fn from_mime_type(mime: &str) -> Option<Self> {
        match mime {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// The `image` crate's name for it.
    fn decoder_format(self) -> image::ImageFormat {
        match self {
            Self::Png => image::ImageFormat::Png,
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Webp => image::ImageFormat::WebP,
        }
    }

    /// The format the first bytes show (files are trusted by content, never by name).
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }
}

/// What became of an image on its way into the model, and what that cost, measured on its pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageOrigin {
    /// SHA-256 of the image it was made from (a raw input), hex.
    pub source_sha256: String,
    /// What was done, in words: `"unchanged"`, or the resampling and encoding.
    pub transform: String,
    /// The difference from the source pixels, measured after decoding.
    pub loss: ImageLoss,
}

/// The measured difference between an image and its source pixels (the source resampled to the image's
/// size first when the image is smaller, so the figures are about what a viewer sees, texel for texel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageLoss {
    /// Whether every pixel is identical to the source's.
    pub lossless: bool,
    /// Peak signal-to-noise ratio per channel (R, G, B), in dB; `None` where a channel is identical.
    pub psnr_db: [Option<f64>; 3],
    /// Largest absolute difference per channel (R, G, B, A), in 8-bit steps.
    pub max_abs_error: [u8; 4],
    /// Mean structural similarity of the luma (1 is identical), 8×8 windows.
    pub ssim: f64,
    /// Width and height of the source the figures compare against, in texels.
    pub source_size: [u32; 2],
}

impl ImageLoss {
    /// The loss of an image whose bytes are the source's: none.
    #[must_use]
    pub fn none(width: u32, height: u32) -> Self {
        Self {
            lossless: true,
            psnr_db: [None; 3],
            max_abs_error: [0; 4],
            ssim: 1.0,
            source_size: [width, height],
        }
    }
}

/// One image file of a textured mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct TextureImage {
    /// The file's name as the scan called it (for the manifest and notes), without folders.
    pub name: String,
    /// How the bytes are encoded.
    pub format: ImageFormat,
    /// Width in texels, from the header.
    pub width: u32,
    /// Height in texels, from the header.
    pub height: u32,
    /// The encoded image, shared between the levels that use it unchanged.
    pub bytes: Arc<[u8]>,
    /// What it was made from and the measured cost; `None` for an image as delivered (a raw input itself).
    pub origin: Option<ImageOrigin>,
}

impl TextureImage {
    /// An image file as delivered: its header read (format and size checked), its bytes kept.
    ///
    /// # Errors
    /// When the bytes are not a PNG, JPEG or WebP image with a readable header, or declare a size beyond
    /// [`MAX_TEXTURE_SIDE`].
    pub fn from_bytes(name: &str, bytes: Arc<[u8]>) -> Result<Self, String> {
        let (format, width, height) = probe(&bytes)?;
        Ok(Self {
            name: name.to_owned(),
            format,
            width,
            height,
            bytes,
            origin: None,
        })
    }

    /// The pixels as 8-bit sRGB RGBA, decoded within the limits a texture has (the header was checked when the
    /// image was made; the limits bound the decoder too, whatever the header said).
    ///
    /// # Errors
    /// When the bytes cannot be decoded; the message names the image.
    pub fn decode_rgba8(&self) -> Result<image::RgbaImage, String> {
        let mut reader = image::ImageReader::with_format(
            std::io::Cursor::new(&self.bytes[..]),
            self.format.decoder_format(),
        );
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_TEXTURE_SIDE);
        limits.max_image_height = Some(MAX_TEXTURE_SIDE);
        limits.max_alloc = Some(3 << 30);
        reader.limits(limits);
        reader
            .decode()
            .map(image::DynamicImage::into_rgba8)
            .map_err(|e| format!("texture {:?} cannot be decoded: {e}", self.name))
    }
}

/// Format and size from an image's header, without decoding its pixels.
///
/// # Errors
/// When the format is unknown, the header is unreadable, or a side is zero or beyond [`MAX_TEXTURE_SIDE`].
pub fn probe(bytes: &[u8]) -> Result<(ImageFormat, u32, u32), String> {
    let format = ImageFormat::sniff(bytes)
        .ok_or("not a PNG, JPEG or WebP image (its first bytes are none of theirs)")?;
    let (width, height) = if format == ImageFormat::Png {
        // The first chunk must be IHDR (PNG's rule): its size is at a fixed place, read before any decoder runs.
        if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
            return Err("unreadable image/png header: the first chunk is not IHDR".into());
        }
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        (word(16), word(20))
    } else {
        let reader =
            image::ImageReader::with_format(std::io::Cursor::new(bytes), format.decoder_format());
        reader
            .into_dimensions()
            .map_err(|e| format!("unreadable {} header: {e}", format.mime_type()))?
    };
    if width == 0 || height == 0 {
        return Err(format!("the image is {width}×{height} texels: empty"));
    }
    if width > MAX_TEXTURE_SIDE || height > MAX_TEXTURE_SIDE {
        return Err(format!(
            "the image declares {width}×{height} texels, more than the {MAX_TEXTURE_SIDE} a side exhibit accepts"
        ));
    }
    Ok((format, width, height))
}

/// One image as the GPU takes it: RGBA8 sRGB, level 0 first, each level half the one before.
#[derive(Debug)]
pub struct MipChain {
    /// Width and height of level 0, in texels.
    pub size: (u32, u32),
    /// The levels' texels, row by row, 4 bytes each.
    pub levels: Vec<Vec<u8>>,
}

impl MipChain {
    /// Bytes the whole chain takes on the GPU.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.len() as u64).sum()
    }

    /// Width and height of level `level`.
    #[must_use]
    pub fn level_size(&self, level: usize) -> (u32, u32) {
        let shift = level.min(31) as u32;
        ((self.size.0 >> shift).max(1), (self.size.1 >> shift).max(1))
    }

    /// The finest level whose sides are both at most `side` (the coarsest when none is).
    #[must_use]
    pub fn level_within(&self, side: u32) -> usize {
        (0..self.levels.len())
            .find(|&l| {
                let (w, h) = self.level_size(l);
                w.max(h) <= side
            })
            .unwrap_or(self.levels.len().saturating_sub(1))
    }
}

/// The full mipmap chain of an sRGB image: each level averages 2×2 texels of the one before in linear light
/// (an odd last row or column is averaged into its neighbour's texel).
#[must_use]
pub fn mip_chain(pixels: &image::RgbaImage) -> MipChain {
    let to_linear: Vec<f32> = (0..=255u8)
        .map(|v| crate::srgb_to_linear(v) as f32)
        .collect();
    let (width, height) = pixels.dimensions();
    let mut levels = vec![pixels.as_raw().clone()];
    let (mut w, mut h) = (width, height);
    while w > 1 || h > 1 {
        let (nw, nh) = ((w / 2).max(1), (h / 2).max(1));
        let previous = levels.last().map_or(&[][..], Vec::as_slice);
        let next: Vec<u8> = (0..nh)
            .into_par_iter()
            .flat_map_iter(|y| {
                let to_linear = &to_linear;
                (0..nw).flat_map(move |x| {
                    // The source texels this one covers (2×2, or 3 wide/high at an odd edge).
                    let xs = 2 * x..if x + 1 == nw { w } else { 2 * x + 2 };
                    let ys = 2 * y..if y + 1 == nh { h } else { 2 * y + 2 };
                    let mut sum = [0.0f32; 4];
                    let mut count = 0.0f32;
                    for sy in ys {
                        for sx in xs.clone() {
                            let at = 4 * (sy * w + sx) as usize;
                            for c in 0..3 {
                                sum[c] += to_linear[previous[at + c] as usize];
                            }
                            sum[3] += f32::from(previous[at + 3]);
                            count += 1.0;
                        }
                    }
                    let mean = sum.map(|s| s / count);
                    [
                        crate::linear_to_srgb(f64::from(mean[0])),
                        crate::linear_to_srgb(f64::from(mean[1])),
                        crate::linear_to_srgb(f64::from(mean[2])),
                        mean[3].round().clamp(0.0, 255.0) as u8,
                    ]
                })
            })
            .collect();
        levels.push(next);
        (w, h) = (nw, nh);
    }
    MipChain {
        size: (width, height),
        levels,
    }
}

/// The colour of an RGBA8 sRGB picture at texture coordinates `uv` (glTF orientation), filtered bilinearly in
/// linear light with repeat wrapping, as a GPU's sampler with glTF's default sampler reads it.
#[must_use]
pub fn sample_bilinear(width: u32, height: u32, rgba: &[u8], uv: [f64; 2]) -> [u8; 3] {
    let x = uv[0] * f64::from(width) - 0.5;
    let y = uv[1] * f64::from(height) - 0.5;
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let wrap = |v: f64, n: u32| (v as i64).rem_euclid(i64::from(n)) as u32;
    let texel = |xi: f64, yi: f64| {
        let at = 4 * (wrap(yi, height) as usize * width as usize + wrap(xi, width) as usize);
        [rgba[at], rgba[at + 1], rgba[at + 2]]
    };
    let corners = [
        (texel(x0, y0), (1.0 - fx) * (1.0 - fy)),
        (texel(x0 + 1.0, y0), fx * (1.0 - fy)),
        (texel(x0, y0 + 1.0), (1.0 - fx) * fy),
        (texel(x0 + 1.0, y0 + 1.0), fx * fy),
    ];
    [0, 1, 2].map(|c| {
        crate::linear_to_srgb(
            corners
                .iter()
                .map(|(t, weight)| crate::srgb_to_linear(t[c]) * weight)
                .sum(),
        )
    })
}

/// Barycentric weights of `p` (a point on the triangle, or its closest point) in triangle `t`.
#[must_use]
pub fn barycentric(p: [f64; 3], t: &[[f64; 3]; 3]) -> [f64; 3] {
    let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let (v0, v1, v2) = (sub(t[1], t[0]), sub(t[2], t[0]), sub(p, t[0]));
    let (d00, d01, d11, d20, d21) = (
        dot(v0, v0),
        dot(v0, v1),
        dot(v1, v1),
        dot(v2, v0),
        dot(v2, v1),
    );
    let denominator = d00 * d11 - d01 * d01;
    if denominator.abs() < 1e-30 {
        return [1.0, 0.0, 0.0];
    }
    let v = (d11 * d20 - d01 * d21) / denominator;
    let w = (d00 * d21 - d01 * d20) / denominator;
    [1.0 - v - w, v, w]
}

/// A mesh's texturing: coordinates per vertex, and per triangle the image it samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Texturing {
    /// Texture coordinates per vertex, glTF's orientation (u right, v down from the image's top row).
    pub uvs: Vec<[f32; 2]>,
    /// The images, one material each.
    pub images: Vec<TextureImage>,
    /// Per triangle, the index of its image in `images`, or [`NO_IMAGE`].
    pub triangle_image: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 6, 0, 0, 0]);
        bytes.extend([0; 4]); // CRC (not checked by the header reader)
        bytes
    }

    #[test]
    fn mip_levels_average_in_linear_light() {
        // A black and white checkerboard: its 1×1 level is the linear mean, mid-grey in light (sRGB 188), not
        // the sRGB mean (128) a naive filter gives.
        let pixels = image::RgbaImage::from_fn(4, 4, |x, y| {
            let v = if (x + y) % 2 == 0 { 255 } else { 0 };
            image::Rgba([v, v, v, 255])
        });
        let chain = mip_chain(&pixels);
        assert_eq!(chain.levels.len(), 3);
        assert_eq!(chain.level_size(2), (1, 1));
        assert_eq!(&chain.levels[2][..], &[188, 188, 188, 255]);
    }

    #[test]
    fn an_image_bomb_is_refused_from_its_header() {
        let message = probe(&png_header(100_000, 100_000)).unwrap_err();
        assert!(message.contains("100000×100000"), "{message}");
        assert_eq!(
            probe(&png_header(4096, 2048)).unwrap(),
            (ImageFormat::Png, 4096, 2048)
        );
    }

    #[test]
    fn unknown_bytes_are_named() {
        assert!(probe(b"GIF89a....").unwrap_err().contains("not a PNG"));
        assert!(
            probe(&[0xff, 0xd8, 0xff, 0xe0])
                .unwrap_err()
                .contains("header")
        );
    }
}
