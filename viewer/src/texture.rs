//! A textured model made ready to draw: each image decoded once into an sRGB mipmap chain (each level the
//! average of four texels in linear light, so print does not darken or shimmer when it is small on screen), and
//! the triangles grouped by the image they sample so that one draw call covers each image.

use codec::{NO_IMAGE, Texturing};
use rayon::prelude::*;

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
}

/// A run of triangles that sample one image (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrawGroup {
    /// First index (not triangle) of the run.
    pub first_index: u32,
    /// Indices in the run.
    pub index_count: u32,
    /// The image, by its place in [`SurfaceTextures::images`]; `None` for untextured triangles.
    pub image: Option<usize>,
}

/// A model's texturing for drawing.
#[derive(Debug)]
pub struct SurfaceTextures {
    /// Texture coordinates per vertex (glTF orientation).
    pub uvs: Vec<[f32; 2]>,
    /// The images that could be decoded, as mipmap chains.
    pub images: Vec<Option<MipChain>>,
    /// The triangles by image, in index order.
    pub groups: Vec<DrawGroup>,
    /// Images that could not be decoded (their triangles are drawn untextured), one sentence each.
    pub notes: Vec<String>,
}

impl SurfaceTextures {
    /// Decode `texturing`'s images and reorder `indices` so that each image's triangles are contiguous
    /// (images in order, untextured triangles last; within an image, the file's order).
    #[must_use]
    pub fn prepare(texturing: &Texturing, indices: &mut Vec<u32>) -> Self {
        let decoded: Vec<Result<MipChain, String>> = texturing
            .images
            .par_iter()
            .map(|image| image.decode_rgba8().map(|pixels| mip_chain(&pixels)))
            .collect();
        let mut notes = Vec::new();
        let images: Vec<Option<MipChain>> = decoded
            .into_iter()
            .map(|result| result.map_err(|why| notes.push(why)).ok())
            .collect();
        let triangle_image = |t: usize| {
            let image = texturing.triangle_image.get(t).copied().unwrap_or(NO_IMAGE);
            (image != NO_IMAGE && images.get(image as usize).is_some_and(Option::is_some))
                .then_some(image as usize)
        };
        let triangles = indices.len() / 3;
        let mut order: Vec<usize> = (0..triangles).collect();
        order.sort_by_key(|&t| (triangle_image(t).unwrap_or(usize::MAX), t));
        let mut sorted = Vec::with_capacity(indices.len());
        let mut groups: Vec<DrawGroup> = Vec::new();
        for &t in &order {
            let image = triangle_image(t);
            match groups.last_mut() {
                Some(group) if group.image == image => group.index_count += 3,
                _ => groups.push(DrawGroup {
                    first_index: sorted.len() as u32,
                    index_count: 3,
                    image,
                }),
            }
            sorted.extend_from_slice(&indices[3 * t..3 * t + 3]);
        }
        *indices = sorted;
        Self {
            uvs: texturing.uvs.clone(),
            images,
            groups,
            notes,
        }
    }

    /// The same coordinates and triangles with other pictures in place of the images (a colour-difference map
    /// drawn in the model's texture space): one picture per image, mipmapped like a texture.
    #[must_use]
    pub fn with_images(&self, pictures: &[image::RgbaImage]) -> Self {
        Self {
            uvs: self.uvs.clone(),
            images: pictures.par_iter().map(|p| Some(mip_chain(p))).collect(),
            groups: self.groups.clone(),
            notes: Vec::new(),
        }
    }

    /// Bytes of GPU memory the images and coordinates take.
    #[must_use]
    pub fn gpu_bytes(&self) -> u64 {
        self.images
            .iter()
            .flatten()
            .map(MipChain::bytes)
            .sum::<u64>()
            + self.uvs.len() as u64 * 8
    }
}

/// The full mipmap chain of an sRGB image: each level averages 2×2 texels of the one before in linear light
/// (an odd last row or column is averaged into its neighbour's texel).
#[must_use]
pub fn mip_chain(pixels: &image::RgbaImage) -> MipChain {
    let to_linear: Vec<f32> = (0..=255u8)
        .map(|v| codec::srgb_to_linear(v) as f32)
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
                        codec::linear_to_srgb(f64::from(mean[0])),
                        codec::linear_to_srgb(f64::from(mean[1])),
                        codec::linear_to_srgb(f64::from(mean[2])),
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn triangles_are_grouped_by_image() {
        let texturing = Texturing {
            uvs: vec![[0.0; 2]; 3],
            images: Vec::new(),
            triangle_image: vec![NO_IMAGE, NO_IMAGE],
        };
        let mut indices = vec![0, 1, 2, 2, 1, 0];
        let prepared = SurfaceTextures::prepare(&texturing, &mut indices);
        assert_eq!(
            prepared.groups,
            vec![DrawGroup {
                first_index: 0,
                index_count: 6,
                image: None
            }]
        );
    }
}
