//! STL, binary and ascii. Corners at exactly the same position become one vertex (in order of first
//! appearance), so the result is an indexed mesh. Facet normals are not kept: a mesh's normals are per
//! vertex, and the viewer recomputes them from the faces; `dropped` says so.

use std::collections::HashMap;

use crate::error::ParseError;
use crate::raw::RawMesh;

/// Parse a whole STL file, binary when its size matches the triangle count in its header.
pub(crate) fn parse_stl(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    if bytes.len() >= 84 {
        let count = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as usize;
        if count.checked_mul(50).and_then(|b| b.checked_add(84)) == Some(bytes.len()) {
            return Ok(parse_binary(bytes, count));
        }
    }
    if bytes.trim_ascii_start().starts_with(b"solid") {
        return parse_ascii(bytes);
    }
    if bytes.len() >= 84 {
        let count = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]);
        return Err(ParseError::byte(
            80,
            format!(
                "binary STL declares {count} triangles ({} bytes) but the file has {} bytes",
                84 + 50 * u64::from(count),
                bytes.len()
            ),
        ));
    }
    Err(ParseError::byte(
        0,
        "neither an ascii STL (\"solid ...\") nor a binary one (84-byte header)",
    ))
}

/// Merges corners by their exact bits.
#[derive(Default)]
struct Welder {
    index_of: HashMap<[u64; 3], u32>,
    raw: RawMesh,
}

impl Welder {
    fn corner(&mut self, p: [f64; 3]) {
        let key = p.map(f64::to_bits);
        let next = self.raw.positions.len() as u32;
        let index = *self.index_of.entry(key).or_insert(next);
        if index == next {
            self.raw.positions.push(p);
        }
        self.raw.indices.push(index);
    }
}

fn parse_binary(bytes: &[u8], count: usize) -> RawMesh {
    let mut welder = Welder::default();
    welder.raw.format = "stl-binary".into();
    welder.raw.indices.reserve(count * 3);
    let mut attributes_used = 0u64;
    for record in bytes[84..].chunks_exact(50) {
        let f = |at: usize| {
            f64::from(f32::from_le_bytes([
                record[at],
                record[at + 1],
                record[at + 2],
                record[at + 3],
            ]))
        };
        for corner in 0..3 {
            let base = 12 + corner * 12;
            welder.corner([f(base), f(base + 4), f(base + 8)]);
        }
        if record[48] != 0 || record[49] != 0 {
            attributes_used += 1;
        }
    }
    let mut raw = welder.raw;
    raw.dropped
        .push("facet normals (the viewer recomputes normals from the faces)".into());
    if attributes_used > 0 {
        raw.dropped.push(format!(
            "{attributes_used} facet attribute words (some writers keep colour there)"
        ));
    }
    raw
}

fn parse_ascii(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    let mut welder = Welder::default();
    welder.raw.format = "stl-ascii".into();
    let mut corners_in_facet = 0;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::line(line_number, "line is not text"))?;
        let mut words = text.split_ascii_whitespace();
        match words.next() {
            Some("vertex") => {
                let mut p = [0.0; 3];
                for value in &mut p {
                    let word = words.next().ok_or_else(|| {
                        ParseError::line(line_number, "vertex needs three numbers")
                    })?;
                    *value = word.parse().map_err(|_| {
                        ParseError::line(line_number, format!("{word:?} is not a number"))
                    })?;
                }
                welder.corner(p);
                corners_in_facet += 1;
            }
            Some("endloop") => {
                if corners_in_facet != 3 {
                    return Err(ParseError::line(
                        line_number,
                        format!("a facet with {corners_in_facet} vertices; STL facets have 3"),
                    ));
                }
                corners_in_facet = 0;
            }
            _ => {}
        }
    }
    if corners_in_facet != 0 {
        return Err(ParseError::line(
            bytes.split(|&b| b == b'\n').count() as u64,
            "file ends inside a facet",
        ));
    }
    let mut raw = welder.raw;
    raw.dropped
        .push("facet normals (the viewer recomputes normals from the faces)".into());
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_binary_give_the_same_welded_mesh() {
        let ascii = b"solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n\
facet normal 0 0 1\nouter loop\nvertex 1 0 0\nvertex 1 1 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n";
        let a = parse_stl(ascii).unwrap();
        let mut binary = vec![0u8; 80];
        binary.extend(2u32.to_le_bytes());
        for tri in [
            [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        ] {
            binary.extend([0u8; 12]);
            for corner in tri {
                for c in corner {
                    binary.extend(c.to_le_bytes());
                }
            }
            binary.extend([0u8; 2]);
        }
        let b = parse_stl(&binary).unwrap();
        assert_eq!(a.positions.len(), 4);
        assert_eq!(a.indices, vec![0, 1, 2, 1, 3, 2]);
        assert_eq!((a.positions, a.indices), (b.positions, b.indices));
    }

    #[test]
    fn reject_truncated_and_lying_files() {
        let mut binary = vec![0u8; 80];
        binary.extend(1_000_000u32.to_le_bytes());
        binary.extend([0u8; 50]);
        assert!(
            parse_stl(&binary)
                .unwrap_err()
                .reason
                .contains("declares 1000000 triangles")
        );
        assert!(
            parse_stl(b"solid x\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\n")
                .unwrap_err()
                .reason
                .contains("2 vertices")
        );
        assert!(parse_stl(b"nothing").is_err());
    }
}
