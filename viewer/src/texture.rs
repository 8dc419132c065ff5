//! A textured model made ready to draw: each image decoded once into an sRGB mipmap chain (each level the
//! average of four texels in linear light, so print does not darken or shimmer when it is small on screen), and
//! the triangles grouped by the image they sample so that one draw call covers each image.

pub use codec::texture::{MipChain, mip_chain};
use codec::{NO_IMAGE, Texturing};
use rayon::prelude::*;

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

#[cfg(test)]
mod tests {
    use super::*;

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
