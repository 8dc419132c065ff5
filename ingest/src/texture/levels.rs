//! The coarser levels' textures: each level of detail has about a quarter of the triangles of the one before,
//! so its images have half the side (not below 256 texels): the source's mipmap level (2×2 texel means in linear
//! light, what a GPU would sample at that distance), encoded by measurement: JPEG (any glTF reader opens it) and
//! lossy WebP (`EXT_texture_webp`, with the model's own image as the fallback for readers without it), each at
//! its lowest quality that keeps the luma's SSIM against the resampled source at or above [`MIN_SSIM`], and the
//! smaller kept; an image with transparency is kept losslessly (the smaller of PNG and lossless WebP). Each
//! image is then measured against the source pixels as a viewer would see it: decoded, magnified back to the
//! source's size, compared texel by texel.

use std::sync::Arc;

use codec::{ImageFormat, ImageOrigin, Mesh, TextureImage};
use image::RgbaImage;
use rayon::prelude::*;
use serde::Serialize;

use super::{encode, quality};

/// The JPEG qualities tried, lowest first; the lowest that keeps [`MIN_SSIM`] is the JPEG candidate.
const JPEG_QUALITIES: [u8; 6] = [70, 75, 80, 85, 90, 95];

/// The WebP qualities tried, lowest first (libwebp keeps print legible far lower than JPEG does).
const WEBP_QUALITIES: [u8; 14] = [30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95];

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
    let (mut image, decoded, how) = choose_encoding(&source.name, &resampled)?;
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

/// One encoding of a resampled image, decoded by the decoder every reader of the model uses (what is measured
/// is what is seen), with its SSIM against the resampled pixels.
struct Candidate {
    image: TextureImage,
    decoded: RgbaImage,
    ssim: f64,
    quality: Option<u8>,
}

fn candidate(
    name: &str,
    target: &RgbaImage,
    format: ImageFormat,
    quality: Option<u8>,
    bytes: Vec<u8>,
) -> Result<Candidate, String> {
    let image = TextureImage {
        name: name.to_owned(),
        format,
        width: target.width(),
        height: target.height(),
        bytes: Arc::from(bytes),
        origin: None,
    };
    let decoded = image.decode_rgba8()?;
    let ssim = quality::compare(target, &decoded).ssim;
    Ok(Candidate {
        image,
        decoded,
        ssim,
        quality,
    })
}

/// The candidate at the lowest of `qualities` (ascending) that keeps [`MIN_SSIM`], found by bisection (SSIM
/// rises with quality); the highest quality's when none does.
fn lowest_passing(
    qualities: &[u8],
    make: impl Fn(u8) -> Result<Candidate, String>,
) -> Result<Candidate, String> {
    let (mut low, mut high) = (0, qualities.len() - 1);
    let mut best = make(qualities[high])?;
    if best.ssim < MIN_SSIM {
        return Ok(best);
    }
    while low < high {
        let middle = usize::midpoint(low, high);
        let tried = make(qualities[middle])?;
        if tried.ssim >= MIN_SSIM {
            high = middle;
            best = tried;
        } else {
            low = middle + 1;
        }
    }
    Ok(best)
}

/// Encode `target` for a coarser level: opaque images as the smaller of JPEG and lossy WebP at the quality
/// that keeps [`MIN_SSIM`] (the higher SSIM when neither reaches it), images with transparency as the smaller
/// of PNG and lossless WebP. Returns the image, its decoded pixels and a sentence saying what was chosen and
/// over what.
fn choose_encoding(
    name: &str,
    target: &RgbaImage,
) -> Result<(TextureImage, RgbaImage, String), String> {
    let size = |c: &Candidate| c.image.bytes.len();
    if target.pixels().any(|p| p.0[3] != 255) {
        let (png, webp) = rayon::join(
            || candidate(name, target, ImageFormat::Png, None, encode::png(target)?),
            || {
                let bytes = encode::webp_lossless(target)?;
                candidate(name, target, ImageFormat::Webp, None, bytes)
            },
        );
        let (png, webp) = (png?, webp?);
        let (kept, other, kept_name, other_name) = if size(&webp) < size(&png) {
            (webp, png, "lossless WebP", "PNG")
        } else {
            (png, webp, "PNG", "lossless WebP")
        };
        let how = format!(
            "{kept_name} (it has transparency; {other_name} took {} bytes)",
            size(&other)
        );
        return Ok((kept.image, kept.decoded, how));
    }
    // Both encoders take the colour without alpha: converted once, not once per quality tried.
    let rgb = encode::opaque_rgb(target);
    let (jpeg, webp) = rayon::join(
        || {
            lowest_passing(&JPEG_QUALITIES, |q| {
                candidate(
                    name,
                    target,
                    ImageFormat::Jpeg,
                    Some(q),
                    encode::jpeg(&rgb, q)?,
                )
            })
        },
        || {
            lowest_passing(&WEBP_QUALITIES, |q| {
                candidate(
                    name,
                    target,
                    ImageFormat::Webp,
                    Some(q),
                    encode::webp_lossy(&rgb, q)?,
                )
            })
        },
    );
    let (jpeg, webp) = (jpeg?, webp?);
    let webp_wins = match (jpeg.ssim >= MIN_SSIM, webp.ssim >= MIN_SSIM) {
        (true, true) => size(&webp) < size(&jpeg),
        (false, false) => webp.ssim > jpeg.ssim,
        (jpeg_passes, _) => !jpeg_passes,
    };
    let describe = |c: &Candidate| {
        let format = if c.image.format == ImageFormat::Webp {
            "WebP"
        } else {
            "JPEG"
        };
        format!(
            "{format} quality {} ({} bytes, SSIM {:.4})",
            c.quality.unwrap_or_default(),
            size(c),
            c.ssim
        )
    };
    let (kept, other) = if webp_wins {
        (webp, jpeg)
    } else {
        (jpeg, webp)
    };
    let how = format!("{}, chosen over {}", describe(&kept), describe(&other));
    Ok((kept.image, kept.decoded, how))
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
