//! Textured scans: the material files and images a mesh file names, read from inside the scan's folder, and the
//! images made for coarser levels of detail, each measured against the source pixels.
//!
//! - `mtl.rs`: which image each OBJ material's colour comes from.
//! - `files.rs`: reading a named file, only from inside the scan's folder, hashed as a raw input.
//! - `quality.rs`: PSNR, largest absolute error and SSIM between an image and its source.
//! - `encode.rs`: the encoders of those images (JPEG, lossy and lossless WebP, PNG), deterministic.
//! - `levels.rs`: the smaller images of the coarser levels (resampled in linear light, the smaller of JPEG and
//!   WebP at the same SSIM), measured.
//!
//! Every image the model uses is a raw input of its own (hashed, listed in the manifest with the scan that names
//! it), so the model can be made again from the sealed files. A texture that cannot be read is named and its
//! triangles drawn untextured: the model still ingests and says so.

pub mod encode;
mod files;
pub mod levels;
pub mod mtl;
pub mod quality;

use std::path::Path;
use std::sync::Arc;

use codec::{InputRecord, NO_IMAGE, TextureImage, Texturing};

use crate::raw::{RawMesh, TextureRefs};

pub use files::contained_path;

/// What resolving a scan's textures read besides the scan, and what the user should hear.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The material files and images read, as raw inputs naming the scan.
    pub companions: Vec<InputRecord>,
    /// Sentences about textures that could not be used.
    pub notes: Vec<String>,
}

/// Read the material files and images `raw.texture_refs` names (relative to `scan`), and replace the references
/// by texturing with its images. Triangles whose image cannot be had are untextured, with a note naming why.
pub fn resolve(raw: &mut RawMesh, scan: &Path) -> Resolved {
    let mut resolved = Resolved::default();
    let Some(refs) = raw.texture_refs.take() else {
        return resolved;
    };
    let folder = scan.parent().unwrap_or_else(|| Path::new("."));
    let scan_name = crate::input_name(scan);
    let material_files = material_images(&refs, folder, &scan_name, &mut resolved);
    // One image per file, shared by the materials and UDIM tiles that name it.
    let mut images: Vec<TextureImage> = Vec::new();
    let mut image_of_file: std::collections::BTreeMap<String, Option<u32>> =
        std::collections::BTreeMap::new();
    let mut load = |file: &str, resolved: &mut Resolved| -> Option<u32> {
        if let Some(known) = image_of_file.get(file) {
            return *known;
        }
        let loaded = files::read_companion(folder, file, &scan_name).and_then(|(bytes, record)| {
            let image = TextureImage::from_bytes(file, Arc::from(bytes))
                .map_err(|why| format!("texture {file:?}: {why}"))?;
            Ok((image, record))
        });
        let number = match loaded {
            Ok((image, mut record)) => {
                image.format.mime_type().clone_into(&mut record.format);
                resolved.companions.push(record);
                images.push(image);
                Some(images.len() as u32 - 1)
            }
            Err(why) => {
                resolved
                    .notes
                    .push(format!("{why}: its triangles are untextured"));
                None
            }
        };
        image_of_file.insert(file.to_owned(), number);
        number
    };
    // Per triangle: its image, and the UDIM tile its coordinates lie in when its image is UDIM-named.
    let triangles = raw.indices.len() / 3;
    let mut triangle_image = vec![NO_IMAGE; triangles];
    let mut triangle_tile = vec![(0i32, 0i32); triangles];
    for t in 0..triangles {
        let material = refs.triangle_material.get(t).copied().unwrap_or(NO_IMAGE);
        let Some(Some(file)) = material_files.get(material as usize) else {
            continue;
        };
        let corners = &raw.indices[3 * t..3 * t + 3];
        let tile = if is_udim(file) {
            let centre = [0, 1].map(|axis| {
                corners
                    .iter()
                    .map(|&c| f64::from(refs.uvs[c as usize][axis]))
                    .sum::<f64>()
                    / 3.0
            });
            (centre[0].floor() as i32, centre[1].floor() as i32)
        } else {
            (0, 0)
        };
        let file = if tile == (0, 0) {
            file.clone()
        } else {
            match udim_tile_name(file, tile) {
                Some(name) => name,
                None => continue,
            }
        };
        if let Some(image) = load(&file, &mut resolved) {
            triangle_image[t] = image;
            triangle_tile[t] = tile;
        }
    }
    if images.is_empty() {
        resolved.notes.push(format!(
            "{scan_name}: no texture could be read: the model is untextured"
        ));
        return resolved;
    }
    let uvs = split_tiles(raw, &refs.uvs, &triangle_tile);
    raw.texturing = Some(Texturing {
        uvs,
        images,
        triangle_image,
    });
    resolved
}

/// Per material, the image file it names (read through the material files), or `None` with a note.
fn material_images(
    refs: &TextureRefs,
    folder: &Path,
    scan_name: &str,
    resolved: &mut Resolved,
) -> Vec<Option<String>> {
    if refs.libraries.is_empty() {
        // PLY: the texture files are the materials.
        return refs.texture_files.iter().cloned().map(Some).collect();
    }
    let mut maps: std::collections::BTreeMap<String, Option<String>> =
        std::collections::BTreeMap::new();
    for library in &refs.libraries {
        match files::read_companion(folder, library, scan_name) {
            Ok((bytes, mut record)) => match mtl::parse_mtl(&bytes) {
                Ok(parsed) => {
                    record.format = "mtl".into();
                    resolved.companions.push(record);
                    for (name, map) in parsed.diffuse_maps {
                        maps.entry(name).or_insert(map);
                    }
                }
                Err(e) => resolved
                    .notes
                    .push(format!("material file {library:?}: {e}: not used")),
            },
            Err(why) => resolved.notes.push(format!("{why}: not used")),
        }
    }
    refs.materials
        .iter()
        .map(|name| match maps.get(name) {
            Some(Some(file)) => Some(file.clone()),
            Some(None) => {
                resolved.notes.push(format!(
                    "material {name:?} has no colour image (map_Kd): its triangles are untextured"
                ));
                None
            }
            None => {
                resolved.notes.push(format!(
                    "material {name:?} is in no material file read: its triangles are untextured"
                ));
                None
            }
        })
        .collect()
}

/// Whether an image's name says it is the first of UDIM tiles (`…1001…` or `<UDIM>`).
fn is_udim(file: &str) -> bool {
    file.contains("<UDIM>") || file.contains("1001")
}

/// The file of UDIM tile (u, v): 1001 + u + 10 v, in place of `1001` or `<UDIM>`; `None` off the 10-wide grid.
fn udim_tile_name(file: &str, (u, v): (i32, i32)) -> Option<String> {
    if !(0..10).contains(&u) || !(0..100).contains(&v) {
        return None;
    }
    let number = (1001 + u + 10 * v).to_string();
    if file.contains("<UDIM>") {
        Some(file.replace("<UDIM>", &number))
    } else {
        // The last "1001" is the tile number (a folder may carry the digits too).
        let at = file.rfind("1001")?;
        Some(format!("{}{number}{}", &file[..at], &file[at + 4..]))
    }
}

/// Texture coordinates in glTF's orientation (v down) within each triangle's tile; a vertex shared by
/// triangles of different tiles becomes one vertex per tile, with every attribute copied.
fn split_tiles(raw: &mut RawMesh, uvs: &[[f32; 2]], triangle_tile: &[(i32, i32)]) -> Vec<[f32; 2]> {
    let flip = |uv: [f32; 2], (tu, tv): (i32, i32)| {
        [
            (f64::from(uv[0]) - f64::from(tu)) as f32,
            (1.0 - (f64::from(uv[1]) - f64::from(tv))) as f32,
        ]
    };
    if triangle_tile.iter().all(|&t| t == (0, 0)) {
        return uvs.iter().map(|&uv| flip(uv, (0, 0))).collect();
    }
    let vertex_count = raw.positions.len();
    let mut tile_of_vertex: Vec<Option<(i32, i32)>> = vec![None; vertex_count];
    let mut copies: std::collections::BTreeMap<(u32, (i32, i32)), u32> =
        std::collections::BTreeMap::new();
    let mut source: Vec<usize> = (0..vertex_count).collect();
    let mut tiles: Vec<(i32, i32)> = vec![(0, 0); vertex_count];
    for (t, &tile) in triangle_tile.iter().enumerate() {
        for k in 0..3 {
            let v = raw.indices[3 * t + k];
            match tile_of_vertex[v as usize] {
                None => {
                    tile_of_vertex[v as usize] = Some(tile);
                    tiles[v as usize] = tile;
                }
                Some(own) if own == tile => {}
                Some(_) => {
                    let copy = *copies.entry((v, tile)).or_insert_with(|| {
                        source.push(v as usize);
                        tiles.push(tile);
                        source.len() as u32 - 1
                    });
                    raw.indices[3 * t + k] = copy;
                }
            }
        }
    }
    raw.duplicate_vertices(&source[vertex_count..]);
    source
        .iter()
        .zip(&tiles)
        .map(|(&s, &tile)| flip(uvs[s], tile))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udim_names() {
        assert_eq!(
            udim_tile_name("texture_1001.png", (1, 0)).as_deref(),
            Some("texture_1002.png")
        );
        assert_eq!(
            udim_tile_name("t.<UDIM>.png", (0, 1)).as_deref(),
            Some("t.1011.png")
        );
        assert_eq!(udim_tile_name("t_1001.png", (-1, 0)), None);
    }
}
