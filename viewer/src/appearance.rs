//! Comparing appearance, not only shape (trade dress): after B is aligned onto A, the CIEDE2000 colour
//! difference between corresponding surface points of A and B, sampled from their textures (or vertex colours).
//!
//! Where A is textured, A is sampled texel by texel in its own texture space (each image at the mip level no
//! larger than [`BAKE_SIDE`], every texel a triangle of A covers is one sample, placed on A's surface by its
//! barycentric coordinates); where it is not, A's vertices are the samples. Each sample's partner is the closest
//! point of aligned B within `max_distance_mm` (farther: no partner, counted), and B's colour there is sampled
//! from B's texture at the same resolution (bilinear) or its vertex colours. The map is A's texture with every
//! sampled texel coloured by its ΔE₀₀, so a changed print lights up on the surface where it is.

use codec::colour::{delta_e_2000, srgb_to_lab};
use codec::distance::TriangleBvh;
use codec::texture::barycentric;
use image::RgbaImage;
use rayon::prelude::*;
use serde::Serialize;

use crate::scene::SceneModel;
use crate::texture::{MipChain, SurfaceTextures};

/// Largest side, in texels, at which textures are compared (the mip level no larger than this is used on both
/// sides, so both are seen at the same resolution).
pub const BAKE_SIDE: u32 = 512;

/// What the colour comparison is asked to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColourOptions {
    /// ΔE₀₀ up to which two colours count as the same.
    pub tolerance_de: f64,
    /// A sample farther than this from B's surface has no partner (the shapes differ there, not the print).
    pub max_distance_mm: f64,
}

impl Default for ColourOptions {
    fn default() -> Self {
        Self {
            tolerance_de: 3.0,
            max_distance_mm: 2.0,
        }
    }
}

/// One bin of the ΔE histogram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeBin {
    /// Lower edge, ΔE₀₀.
    pub from_de: f64,
    /// Upper edge, ΔE₀₀ (the last bin takes everything above).
    pub to_de: f64,
    /// Samples in the bin.
    pub count: u64,
}

/// The colour difference's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColourStatistics {
    /// Samples with a partner on B.
    pub count: usize,
    /// Samples farther than `max_distance_mm` from B (not compared).
    pub unmatched: usize,
    /// Mean ΔE₀₀.
    pub mean_de: f64,
    /// 95th percentile ΔE₀₀.
    pub p95_de: f64,
    /// Largest ΔE₀₀.
    pub max_de: f64,
    /// The tolerance, ΔE₀₀.
    pub tolerance_de: f64,
    /// Share of samples above the tolerance, 0..1.
    pub share_above_tolerance: f64,
    /// Distance beyond which a sample had no partner, millimetres.
    pub max_distance_mm: f64,
    /// How A was sampled: `"texels"` (at most 512 a side) or `"vertices"`.
    pub sampled: String,
    /// ΔE₀₀ in 16 bins from 0 to four times the tolerance, the last open-ended.
    pub histogram: Vec<DeBin>,
}

/// A finished colour comparison.
#[derive(Debug)]
pub struct ColourComparison {
    /// Its figures.
    pub statistics: ColourStatistics,
    /// Per sample: its ΔE₀₀ (NaN without a partner).
    pub delta_e: Vec<f32>,
    /// Per sample: where it lies on A (model frame) — for tests and the report.
    pub positions: Vec<[f32; 3]>,
    /// Per sample: A's texture coordinates there (textured A) or `None`.
    pub uvs: Vec<Option<[f32; 2]>>,
    /// The map to draw A with: per image of A, its texture coloured by ΔE (textured A), or per vertex colours.
    pub map: ColourMap,
}

impl ColourComparison {
    /// A as the map draws it: its texture space coloured by ΔE (a textured A), or its vertices.
    #[must_use]
    pub fn map_on(&self, a: &SceneModel) -> SceneModel {
        match &self.map {
            ColourMap::Textures(pictures) => a.with_texture_pictures(pictures),
            ColourMap::Vertices(colors) => a.recolored(colors.clone()),
        }
    }
}

/// How the colour difference is shown on A.
#[derive(Debug)]
pub enum ColourMap {
    /// One picture per image of A, in A's texture space.
    Textures(Vec<RgbaImage>),
    /// One colour per vertex of A.
    Vertices(Vec<[u8; 3]>),
}

/// Colour for a ΔE₀₀: grey within the tolerance, then yellow to deep red at three times it and beyond.
#[must_use]
pub fn de_color(de: f64, tolerance_de: f64) -> [u8; 3] {
    if !de.is_finite() {
        return [90, 90, 96];
    }
    if de <= tolerance_de {
        return [205, 205, 200];
    }
    let t = ((de - tolerance_de) / (2.0 * tolerance_de).max(1e-9)).clamp(0.0, 1.0);
    let (from, to) = ([254.0, 224.0, 80.0], [165.0, 0.0, 38.0]);
    [0, 1, 2].map(|i| (from[i] + (to[i] - from[i]) * t).round() as u8)
}

/// Draw the ΔE legend at the right edge: the colour bar from three times the tolerance (top) to 0, with the
/// tolerance marked.
pub fn draw_legend(image: &mut RgbaImage, tolerance_de: f64) {
    let top_value = 3.0 * tolerance_de;
    let label = |value: f64| format!("{value:.1} dE00");
    crate::heatmap::draw_scale(
        image,
        (top_value, 0.0),
        |value| de_color(value, tolerance_de),
        &[top_value, tolerance_de, 0.0],
        (label, &label(top_value)),
    );
}

/// One sample of A: where it is, its colour, and where its picture goes.
struct Sample {
    position: [f64; 3],
    lab: codec::colour::Lab,
    uv: Option<[f32; 2]>,
    /// (image, x, y) of its texel in the bake, for a textured A.
    texel: Option<(usize, u32, u32)>,
}

/// Compare A's colours with B's, B already aligned (`b_aligned`: B's positions in A's local frame).
///
/// # Errors
/// When B has no triangles (a colour needs a surface to be read from) or the options are not numbers.
pub fn compare_colour(
    a: &SceneModel,
    b: &SceneModel,
    b_aligned: &[[f32; 3]],
    options: &ColourOptions,
) -> Result<ColourComparison, String> {
    if b.is_points() {
        return Err("model B has no triangles: a colour difference needs B's surface".into());
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(options.tolerance_de) || !positive(options.max_distance_mm) {
        return Err("the colour tolerance and the distance limit must be positive numbers".into());
    }
    let (samples, bakes) = samples_of(a);
    let b_bvh = TriangleBvh::new(b_aligned, &b.indices);
    let b_colours = SurfaceColours::of(b);
    let limit_m = options.max_distance_mm * 1e-3;
    let delta_e: Vec<f32> = samples
        .par_iter()
        .map(|s| {
            let Some(closest) = b_bvh.closest_within(s.position, limit_m) else {
                return f32::NAN;
            };
            let t = closest.triangle as usize;
            let corners =
                [0, 1, 2].map(|k| b_aligned[b.indices[3 * t + k] as usize].map(f64::from));
            let weights = barycentric(closest.point, &corners);
            let rgb = b_colours.at(b, t, weights);
            delta_e_2000(s.lab, srgb_to_lab(rgb)) as f32
        })
        .collect();
    let statistics = statistics(
        &delta_e,
        options,
        if bakes.is_empty() {
            "vertices"
        } else {
            "texels"
        },
    );
    let map = if bakes.is_empty() {
        ColourMap::Vertices(
            delta_e
                .iter()
                .map(|&de| de_color(f64::from(de), options.tolerance_de))
                .collect(),
        )
    } else {
        let mut pictures = bakes;
        for (s, &de) in samples.iter().zip(&delta_e) {
            if let Some((image, x, y)) = s.texel {
                let [r, g, bl] = de_color(f64::from(de), options.tolerance_de);
                pictures[image].put_pixel(x, y, image::Rgba([r, g, bl, 255]));
            }
        }
        ColourMap::Textures(pictures)
    };
    Ok(ColourComparison {
        statistics,
        positions: samples
            .iter()
            .map(|s| s.position.map(|c| c as f32))
            .collect(),
        uvs: samples.iter().map(|s| s.uv).collect(),
        delta_e,
        map,
    })
}

/// A's samples, and for a textured A one picture per image (its texture at the bake level, greyed: texels no
/// triangle covers stay so in the map).
fn samples_of(a: &SceneModel) -> (Vec<Sample>, Vec<RgbaImage>) {
    let textured = a
        .texture
        .as_ref()
        .filter(|t| t.images.iter().any(Option::is_some));
    let Some(textures) = textured else {
        let samples = a
            .positions
            .iter()
            .zip(&a.color_flag)
            .map(|(p, c)| Sample {
                position: p.map(f64::from),
                lab: srgb_to_lab([c[0], c[1], c[2]]),
                uv: None,
                texel: None,
            })
            .collect();
        return (samples, Vec::new());
    };
    let mut samples = Vec::new();
    let mut bakes = Vec::new();
    for (image, chain) in textures.images.iter().enumerate() {
        let Some(chain) = chain else {
            bakes.push(RgbaImage::new(1, 1));
            continue;
        };
        let level = chain.level_within(BAKE_SIDE);
        let (w, h) = chain.level_size(level);
        let texels = &chain.levels[level];
        let mut covered = vec![false; (w * h) as usize];
        for group in textures.groups.iter().filter(|g| g.image == Some(image)) {
            let range =
                group.first_index as usize..(group.first_index + group.index_count) as usize;
            for corners in a.indices[range].chunks_exact(3) {
                let uv = [0, 1, 2].map(|k| textures.uvs[corners[k] as usize]);
                let position = [0, 1, 2].map(|k| a.positions[corners[k] as usize].map(f64::from));
                rasterize(uv, (w, h), |x, y, weights| {
                    let at = (y * w + x) as usize;
                    if std::mem::replace(&mut covered[at], true) {
                        return;
                    }
                    let rgb = [texels[4 * at], texels[4 * at + 1], texels[4 * at + 2]];
                    samples.push(Sample {
                        position: mix3(&position, weights),
                        lab: srgb_to_lab(rgb),
                        uv: Some([(x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32]),
                        texel: Some((image, x, y)),
                    });
                });
            }
        }
        // Uncovered texels: A's own texture, dimmed, so the map shows where nothing was compared.
        let picture = RgbaImage::from_fn(w, h, |x, y| {
            let at = 4 * (y * w + x) as usize;
            let grey =
                ((u32::from(texels[at]) + u32::from(texels[at + 1]) + u32::from(texels[at + 2]))
                    / 6) as u8;
            image::Rgba([grey, grey, grey, 255])
        });
        bakes.push(picture);
    }
    (samples, bakes)
}

/// Call `visit(x, y, barycentric weights)` for every texel of a `size` picture whose centre lies in the
/// triangle with texture coordinates `uv` (texels outside the picture are skipped: a tiling texture is compared
/// within its first repeat).
fn rasterize(uv: [[f32; 2]; 3], size: (u32, u32), mut visit: impl FnMut(u32, u32, [f64; 3])) {
    let (w, h) = (f64::from(size.0), f64::from(size.1));
    let p = uv.map(|t| [f64::from(t[0]) * w, f64::from(t[1]) * h]);
    let area =
        (p[1][0] - p[0][0]) * (p[2][1] - p[0][1]) - (p[2][0] - p[0][0]) * (p[1][1] - p[0][1]);
    if area.abs() < 1e-12 {
        return;
    }
    let low = |axis: usize, limit: f64| {
        p.iter()
            .map(|q| q[axis])
            .fold(f64::INFINITY, f64::min)
            .floor()
            .clamp(0.0, limit)
    };
    let high = |axis: usize, limit: f64| {
        p.iter()
            .map(|q| q[axis])
            .fold(f64::NEG_INFINITY, f64::max)
            .ceil()
            .clamp(0.0, limit)
    };
    let (x0, x1, y0, y1) = (
        low(0, w) as u32,
        high(0, w) as u32,
        low(1, h) as u32,
        high(1, h) as u32,
    );
    for y in y0..y1 {
        for x in x0..x1 {
            let c = [f64::from(x) + 0.5, f64::from(y) + 0.5];
            let edge = |a: [f64; 2], b: [f64; 2]| {
                (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])
            };
            let weights = [
                edge(p[1], p[2]) / area,
                edge(p[2], p[0]) / area,
                edge(p[0], p[1]) / area,
            ];
            if weights.iter().all(|&v| v >= 0.0) {
                visit(x, y, weights);
            }
        }
    }
}

fn mix3(points: &[[f64; 3]; 3], weights: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|axis| (0..3).map(|k| points[k][axis] * weights[k]).sum())
}

/// How B's colour is read at a point of one of its triangles.
struct SurfaceColours<'a> {
    textures: Option<&'a SurfaceTextures>,
    /// Per triangle: its image (by the draw groups), when textured.
    triangle_image: Vec<Option<usize>>,
}

impl<'a> SurfaceColours<'a> {
    fn of(model: &'a SceneModel) -> Self {
        let textures = model.texture.as_deref();
        let mut triangle_image = vec![None; model.triangle_count()];
        if let Some(t) = textures {
            for group in &t.groups {
                let first = group.first_index as usize / 3;
                for slot in &mut triangle_image[first..first + group.index_count as usize / 3] {
                    *slot = group
                        .image
                        .filter(|&i| t.images.get(i).is_some_and(Option::is_some));
                }
            }
        }
        Self {
            textures,
            triangle_image,
        }
    }

    fn at(&self, model: &SceneModel, triangle: usize, weights: [f64; 3]) -> [u8; 3] {
        let corners = [0, 1, 2].map(|k| model.indices[3 * triangle + k] as usize);
        if let (Some(textures), Some(image)) = (self.textures, self.triangle_image[triangle])
            && let Some(Some(chain)) = textures.images.get(image)
        {
            let uv = [0, 1].map(|axis| {
                (0..3)
                    .map(|k| f64::from(textures.uvs[corners[k]][axis]) * weights[k])
                    .sum::<f64>()
            });
            return bilinear(chain, chain.level_within(BAKE_SIDE), uv);
        }
        // Vertex colours, mixed in linear light.
        [0, 1, 2].map(|c| {
            let linear: f64 = (0..3)
                .map(|k| codec::srgb_to_linear(model.color_flag[corners[k]][c]) * weights[k])
                .sum();
            codec::linear_to_srgb(linear)
        })
    }
}

/// A texel colour of a mip level by bilinear filtering (repeat wrapping, as the renderer's sampler).
fn bilinear(chain: &MipChain, level: usize, uv: [f64; 2]) -> [u8; 3] {
    let (w, h) = chain.level_size(level);
    codec::texture::sample_bilinear(w, h, &chain.levels[level], uv)
}

fn statistics(delta_e: &[f32], options: &ColourOptions, sampled: &str) -> ColourStatistics {
    let mut matched: Vec<f32> = delta_e.iter().copied().filter(|d| d.is_finite()).collect();
    matched.par_sort_unstable_by(f32::total_cmp);
    let count = matched.len();
    let n = count.max(1) as f64;
    let mean = matched.iter().map(|&d| f64::from(d)).sum::<f64>() / n;
    let p95 = if count == 0 {
        0.0
    } else {
        f64::from(matched[((0.95 * n).ceil() as usize).clamp(1, count) - 1])
    };
    let above = matched
        .iter()
        .filter(|&&d| f64::from(d) > options.tolerance_de)
        .count();
    let bins = 16u32;
    let width = 4.0 * options.tolerance_de / f64::from(bins);
    let mut counts = vec![0u64; bins as usize];
    for &d in &matched {
        let slot = (f64::from(d) / width)
            .floor()
            .clamp(0.0, f64::from(bins - 1));
        counts[slot as usize] += 1;
    }
    ColourStatistics {
        count,
        unmatched: delta_e.len() - count,
        mean_de: mean,
        p95_de: p95,
        max_de: matched.last().map_or(0.0, |&d| f64::from(d)),
        tolerance_de: options.tolerance_de,
        share_above_tolerance: above as f64 / n,
        max_distance_mm: options.max_distance_mm,
        sampled: sampled.into(),
        histogram: counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| DeBin {
                from_de: i as f64 * width,
                to_de: (i + 1) as f64 * width,
                count,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barycentric_weights_rebuild_the_point() {
        let t = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0]];
        let w = barycentric([0.5, 0.5, 0.0], &t);
        assert!(
            (w[0] - 0.5).abs() < 1e-12
                && (w[1] - 0.25).abs() < 1e-12
                && (w[2] - 0.25).abs() < 1e-12
        );
    }

    #[test]
    fn rasterizing_a_half_square_covers_half_the_texels() {
        let mut count = 0;
        rasterize([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], (16, 16), |_, _, w| {
            assert!(w.iter().all(|&v| (0.0..=1.0).contains(&v)));
            count += 1;
        });
        // Texel centres strictly below the diagonal: 15 + 14 + … + 0 = 120, plus the 16 on it.
        assert_eq!(count, 136);
    }

    #[test]
    fn the_scale_is_grey_within_tolerance_and_red_far_beyond() {
        assert_eq!(de_color(1.0, 3.0), [205, 205, 200]);
        assert_eq!(de_color(30.0, 3.0), [165, 0, 38]);
    }
}
