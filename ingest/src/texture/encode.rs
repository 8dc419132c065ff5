//! The image encoders the coarser levels use, each deterministic (one thread, fixed settings), so the same
//! pixels give the same bytes on every machine:
//! - JPEG (4:2:0 chroma, standard Huffman tables), which every glTF reader opens;
//! - lossy WebP (libwebp, `EXT_texture_webp`), usually a third smaller at the same SSIM;
//! - PNG and lossless WebP, for images with transparency (no loss at all).

use image::{DynamicImage, RgbImage, RgbaImage};

/// The colour of an opaque image without its alpha, made once for every lossy candidate of that image.
#[must_use]
pub fn opaque_rgb(image: &RgbaImage) -> RgbImage {
    DynamicImage::ImageRgba8(image.clone()).into_rgb8()
}

/// Baseline JPEG of `rgb` with 4:2:0 chroma (print detail lives in the luma).
pub fn jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let (width, height) = (
        u16::try_from(rgb.width()).map_err(|_| "the image is too wide for JPEG")?,
        u16::try_from(rgb.height()).map_err(|_| "the image is too tall for JPEG")?,
    );
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    // Optimized tables would save a few per cent, but the image crate's decoder (the viewer's, in the browser
    // too) misreads this encoder's optimized tables (SSIM 0.28 where libjpeg reads 0.986): standard tables.
    encoder.set_optimized_huffman_tables(false);
    encoder
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(bytes)
}

/// PNG of `image`, alpha kept.
pub fn png(image: &RgbaImage) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(bytes)
}

/// libwebp's settings for exhibit: `method` 4 (libwebp's default balance of time and size) and no encoder
/// threads, so the bytes never depend on scheduling.
fn webp_config(quality: f32, lossless: bool) -> Result<webp::WebPConfig, String> {
    let mut config =
        webp::WebPConfig::new().map_err(|()| "libwebp refused its own default settings")?;
    config.quality = quality;
    config.method = 4;
    config.thread_level = 0;
    config.lossless = i32::from(lossless);
    // Lossless means every texel, the colour under a fully transparent one included.
    config.exact = i32::from(lossless);
    Ok(config)
}

/// Refuse a side beyond WebP's limit, naming the size.
fn check_webp_size(width: u32, height: u32) -> Result<(), String> {
    if width > 16_383 || height > 16_383 {
        return Err(format!(
            "{width}×{height} is beyond WebP's 16383-texel side"
        ));
    }
    Ok(())
}

fn webp_result(
    encoded: Result<webp::WebPMemory, webp::WebPEncodingError>,
) -> Result<Vec<u8>, String> {
    encoded
        .map(|memory| memory.to_vec())
        .map_err(|e| format!("WebP encoding failed: {e:?}"))
}

/// Lossy WebP of `rgb` at `quality` (0–100).
pub fn webp_lossy(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let (width, height) = rgb.dimensions();
    check_webp_size(width, height)?;
    let config = webp_config(f32::from(quality), false)?;
    webp_result(webp::Encoder::from_rgb(rgb.as_raw(), width, height).encode_advanced(&config))
}

/// Lossless WebP of `image`, alpha kept.
pub fn webp_lossless(image: &RgbaImage) -> Result<Vec<u8>, String> {
    let (width, height) = image.dimensions();
    check_webp_size(width, height)?;
    let config = webp_config(75.0, true)?;
    webp_result(webp::Encoder::from_rgba(image.as_raw(), width, height).encode_advanced(&config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print_like(width: u32, height: u32) -> RgbaImage {
        RgbaImage::from_fn(width, height, |x, y| {
            let stripe = if (x / 6 + y / 9) % 2 == 0 { 200 } else { 40 };
            image::Rgba([
                stripe,
                ((x * 3 + y) % 256) as u8,
                ((x ^ y) % 256) as u8,
                255,
            ])
        })
    }

    fn decoded(bytes: &[u8]) -> RgbaImage {
        image::load_from_memory(bytes)
            .expect("decodes")
            .into_rgba8()
    }

    #[test]
    fn lossy_webp_is_deterministic_and_decodes_to_the_same_size() {
        let image = opaque_rgb(&print_like(96, 64));
        let first = webp_lossy(&image, 70).unwrap();
        assert_eq!(first, webp_lossy(&image, 70).unwrap());
        assert_eq!(&first[..4], b"RIFF");
        assert_eq!(decoded(&first).dimensions(), (96, 64));
        // A lower quality is smaller.
        assert!(webp_lossy(&image, 30).unwrap().len() < first.len());
    }

    #[test]
    fn lossless_webp_keeps_every_texel_with_its_alpha() {
        let mut image = print_like(40, 30);
        image.put_pixel(3, 4, image::Rgba([9, 8, 7, 0]));
        image.put_pixel(5, 6, image::Rgba([1, 2, 3, 128]));
        let back = decoded(&webp_lossless(&image).unwrap());
        assert_eq!(back, image);
    }

    #[test]
    fn an_image_beyond_webps_limit_is_refused_with_its_size() {
        let wide = RgbImage::new(16_384, 1);
        let error = webp_lossy(&wide, 80).unwrap_err();
        assert!(error.contains("16384×1"), "{error}");
    }
}
