//! The coarser levels' textures: each level of detail has about a quarter of the triangles of the one before,
//! so its images have half the side (not below 256 texels): the source's mipmap level (2×2 texel means in linear
//! light, what a GPU would sample at that distance), stored as JPEG (any
//! glTF viewer reads it without an extension) at the lowest quality that keeps the luma's SSIM against the
//! resampled source at or above [`MIN_SSIM`]. Each image is then measured against the source pixels as a viewer
//! would see it: decoded, magnified back to the source's size, compared texel by texel.

use std::sync::Arc;

use codec::{ImageFormat, ImageOrigin, Mesh, TextureImage};
use image::{DynamicImage, RgbaImage};
use rayon::prelude::*;
use serde::Serialize;

use super::quality;

/// The qualities tried, best last; the first that keeps [`MIN_SSIM`] is kept.
const QUALITIES: [u8; 6] = [70, 75, 80, 85, 90, 95];

/// Luma SSIM a coarser level's image keeps against the source resampled to its size.
pub const MIN_SSIM: f64 = 0.97;

/// No coarser level's image is made smaller than this side (or the source's, when smaller).
const MIN_SIDE: u32 = 256;

/// `image` magnified to `width` × `height` by bilinear filtering (texel centres aligned, edges clamped), as a
/// GPU's linear magnification shows it; rows in parallel.
#[must_use]
pub fn magnify(image: &RgbaImage, width: u32, height: u32) -> RgbaImage {
    let (w, h) = image.dimensions();
    let source = image.as_raw();
    let row_bytes = 4 * width as usize;
    let mut out = vec![0u8; row_bytes * height as usize];
    let scale = (
        f64::from(w) / f64::from(width),
        f64::from(h) / f64::from(height),
    );
    out.par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(y, row)| {
            let sy = ((y as f64 + 0.5) * scale.1 - 0.5).clamp(0.0, f64::from(h - 1));
            let (y0, fy) = (sy.floor() as usize, sy.fract());
            let y1 = (y0 + 1).min(h as usize - 1);
            for x in 0..width as usize {
                let sx = ((x as f64 + 0.5) * scale.0 - 0.5).clamp(0.0, f64::from(w - 1));
                let (x0, fx) = (sx.floor() as usize, sx.fract());
                let x1 = (x0 + 1).min(w as usize - 1);
                let at = |xi: usize, yi: usize, c: usize| {
                    f64::from(source[4 * (yi * w as usize + xi) + c])
                };
                for c in 0..4 {
                    let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
                    let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
                    row[4 * x + c] = (top * (1.0 - fy) + bottom * fy).round() as u8;
                }
            }
        });
    RgbaImage::from_raw(width, height, out).unwrap_or_default()
}

/// Baseline JPEG with 4:2:0 chroma (print detail lives in the luma) and Huffman tables optimized for the image.
fn encode_jpeg(image: &RgbaImage, quality: u8) -> Result<Vec<u8>, String> {
    let rgb = DynamicImage::ImageRgba8(image.clone()).into_rgb8();
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

fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(bytes)
}

/// One smaller copy of a source image (level `level` of its mipmap chain, not below [`MIN_SIDE`]), encoded
/// and measured, with its decoded pixels.
fn smaller_image(
    source: &TextureImage,
    pixels: &RgbaImage,
    chain: &codec::texture::MipChain,
    level: usize,
) -> Result<(TextureImage, RgbaImage), String> {
    let floor = MIN_SIDE.min(source.width.max(source.height));
    let level = (0..=level.min(chain.levels.len() - 1))
        .rev()
        .find(|&l| {
            let (w, h) = chain.level_size(l);
            w.max(h) >= floor
        })
        .unwrap_or(0);
    let (width, height) = chain.level_size(level);
    let resampled = RgbaImage::from_raw(width, height, chain.levels[level].clone())
        .ok_or("a mipmap level has the wrong size")?;
    // Each candidate decoded by the decoder every reader of the model uses: what is measured is what is seen.
    let candidate = |format, bytes: Vec<u8>| -> Result<(TextureImage, RgbaImage), String> {
        let image = TextureImage {
            name: source.name.clone(),
            format,
            width,
            height,
            bytes: Arc::from(bytes),
            origin: None,
        };
        let decoded = image.decode_rgba8()?;
        Ok((image, decoded))
    };
    let opaque = resampled.pixels().all(|p| p.0[3] == 255);
    let (mut image, decoded, how) = if opaque {
        let mut chosen = None;
        for quality in QUALITIES {
            let (image, decoded) = candidate(ImageFormat::Jpeg, encode_jpeg(&resampled, quality)?)?;
            if quality::compare(&resampled, &decoded).ssim >= MIN_SSIM || quality == 95 {
                chosen = Some((image, decoded, format!("JPEG quality {quality}")));
                break;
            }
        }
        chosen.ok_or("no JPEG quality was tried")?
    } else {
        let (image, decoded) = candidate(ImageFormat::Png, encode_png(&resampled)?)?;
        (image, decoded, "PNG (it has transparency)".to_owned())
    };
    // What a viewer sees: the stored image magnified back over the source's texels.
    let magnified = magnify(&decoded, source.width, source.height);
    image.origin = Some(ImageOrigin {
        source_sha256: codec::manifest::sha256_hex(&source.bytes),
        transform: format!(
            "resampled from {}×{} to {width}×{height} (2×2 texel means in linear light, as the mipmaps a GPU samples), {how}; loss measured after magnifying back to the source's size",
            source.width, source.height
        ),
        loss: quality::compare(pixels, &magnified),
    });
    Ok((image, decoded))
}

/// How far a coarser level's surface colour is from the model's: at every textured vertex of the model, the
/// model's texture there against the level's texture at the closest point of the level (its coordinates
/// interpolated there), as CIEDE2000; and how far those coordinates moved, in texels of the model's image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelDistortion {
    /// 1 for the first coarser level.
    pub level: u32,
    /// Vertices of the model compared.
    pub samples: usize,
    /// Median, 95th percentile and largest ΔE₀₀.
    pub colour_de: [f64; 3],
    /// Median and 95th percentile of the coordinates' displacement, texels of the model's image. (At a UV seam
    /// the closest point may lie on the neighbouring chart, where the coordinates jump but the colour does not:
    /// the largest displacement says nothing there, so it is not recorded; the colour difference is the measure.)
    pub uv_displacement_texels: [f64; 2],
}

/// Give each coarser level (finest first, level 1 first) its own smaller images, made from `model`'s, and
/// measure each level's texture distortion against the model.
///
/// # Errors
/// When a source image cannot be decoded or a new one encoded; the message names the image.
pub fn shrink_level_textures(
    model: &Mesh,
    coarser: &mut [Mesh],
) -> Result<Vec<LevelDistortion>, String> {
    let Some(texturing) = &model.texturing else {
        return Ok(Vec::new());
    };
    let sources: Vec<RgbaImage> = texturing
        .images
        .par_iter()
        .map(TextureImage::decode_rgba8)
        .collect::<Result<_, _>>()?;
    let chains: Vec<codec::texture::MipChain> =
        sources.par_iter().map(codec::texture::mip_chain).collect();
    let mut distortions = Vec::new();
    for (k, level) in coarser.iter_mut().enumerate() {
        let Some(level_texturing) = &mut level.texturing else {
            continue;
        };
        let made: Vec<(TextureImage, RgbaImage)> = texturing
            .images
            .par_iter()
            .zip(&sources)
            .zip(&chains)
            .map(|((image, pixels), chain)| smaller_image(image, pixels, chain, k + 1))
            .collect::<Result<_, _>>()?;
        let (images, pixels): (Vec<TextureImage>, Vec<RgbaImage>) = made.into_iter().unzip();
        level_texturing.images = images;
        distortions.push(distortion(model, &sources, level, &pixels, k as u32 + 1));
    }
    Ok(distortions)
}

fn distortion(
    model: &Mesh,
    sources: &[RgbaImage],
    level: &Mesh,
    level_pixels: &[RgbaImage],
    number: u32,
) -> LevelDistortion {
    use codec::texture::{barycentric, sample_bilinear};
    let (Some(texturing), Some(level_texturing)) = (&model.texturing, &level.texturing) else {
        return LevelDistortion {
            level: number,
            samples: 0,
            colour_de: [0.0; 3],
            uv_displacement_texels: [0.0; 2],
        };
    };
    // Each textured vertex of the model, with its image.
    let mut image_of_vertex = vec![codec::NO_IMAGE; model.positions.len()];
    for (corners, &image) in model.indices.chunks_exact(3).zip(&texturing.triangle_image) {
        for &c in corners {
            image_of_vertex[c as usize] = image;
        }
    }
    let bvh = codec::distance::TriangleBvh::new(&level.positions, &level.indices);
    let measured: Vec<(f64, f64)> = (0..model.positions.len())
        .into_par_iter()
        .filter(|&v| image_of_vertex[v] != codec::NO_IMAGE)
        .filter_map(|v| {
            let image = image_of_vertex[v] as usize;
            let closest = bvh.closest(model.positions[v].map(f64::from))?;
            let t = closest.triangle as usize;
            let level_image = level_texturing.triangle_image[t];
            let corners = [0, 1, 2].map(|k| level.indices[3 * t + k] as usize);
            let weights = barycentric(
                closest.point,
                &corners.map(|c| level.positions[c].map(f64::from)),
            );
            let uv = [0, 1].map(|axis| {
                (0..3)
                    .map(|k| f64::from(level_texturing.uvs[corners[k]][axis]) * weights[k])
                    .sum::<f64>()
            });
            let own_uv = texturing.uvs[v].map(f64::from);
            let source = &sources[image];
            let own = sample_bilinear(source.width(), source.height(), source.as_raw(), own_uv);
            let seen = match level_pixels.get(level_image as usize) {
                Some(p) => sample_bilinear(p.width(), p.height(), p.as_raw(), uv),
                None => return None,
            };
            let de = codec::colour::delta_e_2000(
                codec::colour::srgb_to_lab(own),
                codec::colour::srgb_to_lab(seen),
            );
            let moved = ((uv[0] - own_uv[0]) * f64::from(source.width()))
                .hypot((uv[1] - own_uv[1]) * f64::from(source.height()));
            Some((de, moved))
        })
        .collect();
    let percentile = |mut values: Vec<f64>, q: f64| {
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            return 0.0;
        }
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[rank]
    };
    let de: Vec<f64> = measured.iter().map(|m| m.0).collect();
    let moved: Vec<f64> = measured.iter().map(|m| m.1).collect();
    LevelDistortion {
        level: number,
        samples: measured.len(),
        colour_de: [
            percentile(de.clone(), 0.5),
            percentile(de.clone(), 0.95),
            percentile(de, 1.0),
        ],
        uv_displacement_texels: [percentile(moved.clone(), 0.5), percentile(moved, 0.95)],
    }
}
