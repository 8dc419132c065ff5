//! Wavefront OBJ: `v` (with optional r g b), `vn`, `f` with `v`, `v/vt`, `v//vn` and `v/vt/vn` corners,
//! negative (relative) indices, polygons triangulated as fans.
//!
//! A vertex used with different normals becomes one vertex per (position, normal) pair, so normals
//! are kept exactly. Texture coordinates, groups and materials are named in `dropped`.

use std::collections::BTreeMap;

use crate::error::ParseError;
use crate::raw::RawMesh;

/// Parse a whole OBJ file.
pub(crate) fn parse_obj(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    let mut positions: Vec<[f64; 3]> = Vec::new();
    let mut colors: Vec<[u8; 4]> = Vec::new();
    let mut normals: Vec<[f32; 3]> = Vec::new();
    let mut corners_of_faces: Vec<(u32, Option<u32>)> = Vec::new();
    let mut texcoords = 0u64;
    let mut other_statements: BTreeMap<String, u64> = BTreeMap::new();
    let mut polygons_triangulated = 0u64;
    let mut polygon: Vec<(u32, Option<u32>)> = Vec::new();
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
            "vt" => texcoords += 1,
            "f" => {
                polygon.clear();
                for word in words {
                    polygon.push(parse_corner(
                        word,
                        positions.len(),
                        normals.len(),
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
                }
            }
            other => *other_statements.entry(other.to_owned()).or_default() += 1,
        }
    }
    let mut dropped: Vec<String> = other_statements
        .iter()
        .map(|(k, n)| format!("{n} `{k}` statement(s)"))
        .collect();
    if texcoords > 0 {
        dropped.push(format!("{texcoords} texture coordinate(s)"));
    }
    let uses_normals =
        !corners_of_faces.is_empty() && corners_of_faces.iter().all(|(_, n)| n.is_some());
    if !uses_normals && corners_of_faces.iter().any(|(_, n)| n.is_some()) {
        dropped.push("normals (given for only some face corners)".into());
    }
    let format = "obj".to_owned();
    if !uses_normals {
        let indices = corners_of_faces.iter().map(|&(v, _)| v).collect();
        let colors_srgb = (!colors.is_empty()).then_some(colors);
        return Ok(RawMesh {
            format,
            positions,
            indices,
            normals: None,
            colors_srgb,
            dropped,
            polygons_triangulated,
            ..RawMesh::default()
        });
    }
    // One output vertex per distinct (position, normal) pair, numbered in order of first use.
    let mut vertex_of: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    let mut out = RawMesh {
        format,
        dropped,
        polygons_triangulated,
        ..RawMesh::default()
    };
    let mut out_normals = Vec::new();
    let mut out_colors = Vec::new();
    for &(v, n) in &corners_of_faces {
        let n = n.unwrap_or(0);
        let next = out.positions.len() as u32;
        let index = *vertex_of.entry((v, n)).or_insert_with(|| {
            out.positions.push(positions[v as usize]);
            out_normals.push(normals[n as usize]);
            if let Some(c) = colors.get(v as usize) {
                out_colors.push(*c);
            }
            next
        });
        out.indices.push(index);
    }
    out.normals = Some(out_normals);
    out.colors_srgb = (!colors.is_empty()).then_some(out_colors);
    Ok(out)
}

/// One face corner `v[/vt[/vn]]`, resolved to zero-based indices (negative ones count back from the end).
fn parse_corner(
    word: &str,
    vertex_count: usize,
    normal_count: usize,
    line: u64,
) -> Result<(u32, Option<u32>), ParseError> {
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
    let _texcoord = parts.next();
    let normal = match parts.next() {
        Some(text) if !text.is_empty() => Some(resolve(text, normal_count, "normal")?),
        _ => None,
    };
    Ok((vertex, normal))
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
