//! Wavefront OBJ: `v` (with optional r g b), `vn`, `f` with `v`, `v/vt`, `v//vn` and `v/vt/vn` corners,
//! negative (relative) indices, polygons triangulated as fans.
//!
//! A vertex used with different normals or texture coordinates becomes one vertex per (position, texture
//! coordinate, normal) triple, so both are kept exactly and vertices split only at seams. `usemtl` gives each
//! triangle its material and `mtllib` names the material files; `crate::texture` reads those and the images
//! (this parser sees only the OBJ's bytes). Groups and other statements are named in `dropped`.

use std::collections::BTreeMap;

use crate::error::ParseError;
use crate::raw::{RawMesh, TextureRefs};

/// Parse a whole OBJ file.
pub(crate) fn parse_obj(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    let mut positions: Vec<[f64; 3]> = Vec::new();
    let mut colors: Vec<[u8; 4]> = Vec::new();
    let mut normals: Vec<[f32; 3]> = Vec::new();
    let mut corners_of_faces: Vec<Corner> = Vec::new();
    let mut texcoords: Vec<[f32; 2]> = Vec::new();
    let mut materials: Vec<String> = Vec::new();
    let mut libraries: Vec<String> = Vec::new();
    let mut current_material = codec::NO_IMAGE;
    let mut triangle_material: Vec<u32> = Vec::new();
    let mut other_statements: BTreeMap<String, u64> = BTreeMap::new();
    let mut polygons_triangulated = 0u64;
    let mut polygon: Vec<Corner> = Vec::new();
    for (line_index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = line_index as u64 + 1;
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::line(line_number, "line is not UTF-8 text"))?;
        let text = text.split('#').next().unwrap_or("").trim();
        let mut words = text.split_ascii_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let number = |word: Option<&str>, what: &str| -> Result<f64, ParseError> {
            let word = word
                .ok_or_else(|| ParseError::line(line_number, format!("{keyword} needs {what}")))?;
            let value: f64 = word
                .parse()
                .map_err(|_| ParseError::line(line_number, format!("{word:?} is not a number")))?;
            if value.is_finite() {
                Ok(value)
            } else {
                Err(ParseError::line(
                    line_number,
                    format!("{word:?} is not finite"),
                ))
            }
        };
        match keyword {
            "v" => {
                let p = [
                    number(words.next(), "x")?,
                    number(words.next(), "y")?,
                    number(words.next(), "z")?,
                ];
                let rest: Vec<&str> = words.collect();
                // `v x y z r g b` (colour in 0..1) is the common vertex-colour extension; `v x y z w` is a weight.
                if rest.len() >= 3 {
                    let c = [
                        number(Some(rest[0]), "red")?,
                        number(Some(rest[1]), "green")?,
                        number(Some(rest[2]), "blue")?,
                    ];
                    if colors.len() != positions.len() {
                        return Err(ParseError::line(
                            line_number,
                            "vertex colour after vertices without one",
                        ));
                    }
                    colors.push(
                        [c[0], c[1], c[2], 1.0].map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
                    );
                } else if !colors.is_empty() {
                    return Err(ParseError::line(
                        line_number,
                        "vertex without colour after vertices with one",
                    ));
                }
                positions.push(p);
            }
            "vn" => {
                let n = [
                    number(words.next(), "x")?,
                    number(words.next(), "y")?,
                    number(words.next(), "z")?,
                ];
                normals.push(n.map(|c| c as f32));
            }
            "vt" => {
                let uv = [number(words.next(), "u")?, number(words.next(), "v")?];
                texcoords.push(uv.map(|c| c as f32));
            }
            "usemtl" => {
                let name = text[keyword.len()..].trim().to_owned();
                current_material = if let Some(at) = materials.iter().position(|m| *m == name) {
                    at as u32
                } else {
                    materials.push(name);
                    materials.len() as u32 - 1
                };
            }
            "mtllib" => libraries.extend(words.map(str::to_owned)),
            "f" => {
                polygon.clear();
                for word in words {
                    polygon.push(parse_corner(
                        word,
                        [positions.len(), texcoords.len(), normals.len()],
                        line_number,
                    )?);
                }
                if polygon.len() < 3 {
                    return Err(ParseError::line(
                        line_number,
                        format!("face has {} corners, fewer than 3", polygon.len()),
                    ));
                }
                if polygon.len() > 3 {
                    polygons_triangulated += 1;
                }
                for k in 2..polygon.len() {
                    corners_of_faces.extend([polygon[0], polygon[k - 1], polygon[k]]);
                    triangle_material.push(current_material);
                }
            }
            other => *other_statements.entry(other.to_owned()).or_default() += 1,
        }
    }
    let dropped: Vec<String> = other_statements
        .iter()
        .map(|(k, n)| format!("{n} `{k}` statement(s)"))
        .collect();
    Ok(assemble(
        Statements {
            positions,
            colors,
            normals,
            texcoords,
            materials,
            libraries,
        },
        &corners_of_faces,
        triangle_material,
        RawMesh {
            format: "obj".to_owned(),
            dropped,
            polygons_triangulated,
            ..RawMesh::default()
        },
    ))
}

/// What an OBJ file's statements defined, before faces pick from it.
struct Statements {
    positions: Vec<[f64; 3]>,
    colors: Vec<[u8; 4]>,
    normals: Vec<[f32; 3]>,
    texcoords: Vec<[f32; 2]>,
    materials: Vec<String>,
    libraries: Vec<String>,
}

/// The mesh the faces make: one output vertex per distinct (position, texture coordinate, normal) triple,
/// numbered in order of first use; a file with neither normals nor coordinates keeps its vertices as they are.
fn assemble(
    statements: Statements,
    corners_of_faces: &[Corner],
    triangle_material: Vec<u32>,
    mut out: RawMesh,
) -> RawMesh {
    let Statements {
        positions,
        colors,
        normals,
        texcoords,
        materials,
        libraries,
    } = statements;
    let uses_normals =
        !corners_of_faces.is_empty() && corners_of_faces.iter().all(|c| c.normal.is_some());
    if !uses_normals && corners_of_faces.iter().any(|c| c.normal.is_some()) {
        out.dropped
            .push("normals (given for only some face corners)".into());
    }
    let uses_texcoords =
        !corners_of_faces.is_empty() && corners_of_faces.iter().all(|c| c.texcoord.is_some());
    if !uses_texcoords && !texcoords.is_empty() {
        out.dropped.push(format!(
            "{} texture coordinate(s) (given for only some face corners)",
            texcoords.len()
        ));
    }
    if !uses_normals && !uses_texcoords {
        out.indices = corners_of_faces.iter().map(|c| c.vertex).collect();
        out.positions = positions;
        out.colors_srgb = (!colors.is_empty()).then_some(colors);
        if !materials.is_empty() {
            out.dropped.push(format!(
                "{} material(s) (the faces have no texture coordinates)",
                materials.len()
            ));
        }
        return out;
    }
    let mut vertex_of: BTreeMap<(u32, u32, u32), u32> = BTreeMap::new();
    let mut out_normals = Vec::new();
    let mut out_colors = Vec::new();
    let mut out_uvs = Vec::new();
    for corner in corners_of_faces {
        let (v, t, n) = (
            corner.vertex,
            corner.texcoord.filter(|_| uses_texcoords).unwrap_or(0),
            corner.normal.filter(|_| uses_normals).unwrap_or(0),
        );
        let next = out.positions.len() as u32;
        let index = *vertex_of.entry((v, t, n)).or_insert_with(|| {
            out.positions.push(positions[v as usize]);
            if uses_normals {
                out_normals.push(normals[n as usize]);
            }
            if uses_texcoords {
                out_uvs.push(texcoords[t as usize]);
            }
            if let Some(c) = colors.get(v as usize) {
                out_colors.push(*c);
            }
            next
        });
        out.indices.push(index);
    }
    out.normals = uses_normals.then_some(out_normals);
    out.colors_srgb = (!colors.is_empty()).then_some(out_colors);
    if uses_texcoords {
        out.texture_refs = Some(TextureRefs {
            uvs: out_uvs,
            triangle_material,
            materials,
            libraries,
            texture_files: Vec::new(),
        });
    }
    out
}

/// One face corner: indices of its position, texture coordinate and normal.
#[derive(Clone, Copy, Debug)]
struct Corner {
    vertex: u32,
    texcoord: Option<u32>,
    normal: Option<u32>,
}

/// One face corner `v[/vt[/vn]]`, resolved to zero-based indices (negative ones count back from the end).
fn parse_corner(word: &str, counts: [usize; 3], line: u64) -> Result<Corner, ParseError> {
    let [vertex_count, texcoord_count, normal_count] = counts;
    let mut parts = word.split('/');
    let resolve = |text: &str, count: usize, what: &str| -> Result<u32, ParseError> {
        let value: i64 = text.parse().map_err(|_| {
            ParseError::line(line, format!("{what} index {text:?} is not a whole number"))
        })?;
        let count_i64 = i64::try_from(count).unwrap_or(i64::MAX);
        let resolved = if value > 0 {
            value - 1
        } else {
            count_i64.saturating_add(value)
        };
        if value == 0 || resolved < 0 || resolved >= count_i64 {
            return Err(ParseError::line(
                line,
                format!("{what} index {value} does not name one of the {count} defined so far"),
            ));
        }
        Ok(resolved as u32)
    };
    let vertex = resolve(parts.next().unwrap_or(""), vertex_count, "vertex")?;
    let texcoord = match parts.next() {
        Some(text) if !text.is_empty() => {
            Some(resolve(text, texcoord_count, "texture coordinate")?)
        }
        _ => None,
    };
    let normal = match parts.next() {
        Some(text) if !text.is_empty() => Some(resolve(text, normal_count, "normal")?),
        _ => None,
    };
    Ok(Corner {
        vertex,
        texcoord,
        normal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_indices_and_quads() {
        let raw = parse_obj(b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf -4 -3 -2 -1\n").unwrap();
        assert_eq!(raw.indices, vec![0, 1, 2, 0, 2, 3]);
        assert_eq!(raw.polygons_triangulated, 1);
    }

    #[test]
    fn split_vertices_by_normal() {
        let raw = parse_obj(
            b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nvn 0 0 -1\nf 1//1 2//1 3//1\nf 1//2 3//2 2//2\n",
        )
        .unwrap();
        assert_eq!(raw.positions.len(), 6);
        assert_eq!(raw.normals.unwrap()[3], [0.0, 0.0, -1.0]);
    }

    #[test]
    fn texture_coordinates_split_vertices_only_at_seams() {
        let raw = parse_obj(
            b"mtllib box.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\nvt 0.5 0.5\n\
              usemtl print\nf 1/1 2/2 3/3\nf 2/2 4/4 3/3\nusemtl other\nf 1/5 3/3 2/2\n",
        )
        .unwrap();
        // Vertex 1 is used with two texture coordinates (a seam): it becomes two vertices; the others stay one.
        assert_eq!(raw.positions.len(), 5);
        let refs = raw.texture_refs.unwrap();
        assert_eq!(refs.uvs.len(), 5);
        assert_eq!(refs.triangle_material, vec![0, 0, 1]);
        assert_eq!(refs.materials, vec!["print", "other"]);
        assert_eq!(refs.libraries, vec!["box.mtl"]);
    }

    #[test]
    fn vertex_colours() {
        let raw = parse_obj(b"v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 1\nf 1 2 3\n").unwrap();
        assert_eq!(
            raw.colors_srgb.unwrap(),
            vec![[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]
        );
    }

    #[test]
    fn reject_bad_references_with_line() {
        let error = parse_obj(b"v 0 0 0\n\nf 1 2 3\n").unwrap_err();
        assert_eq!(
            error,
            ParseError::line(
                3,
                "vertex index 2 does not name one of the 1 defined so far"
            )
        );
        let error = parse_obj(b"v 0 0 nan\n").unwrap_err();
        assert!(error.reason.contains("not finite"));
    }
}
