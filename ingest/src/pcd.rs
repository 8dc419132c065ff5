//! PCD (Point Cloud Library): `ascii`, `binary` and `binary_compressed` (LZF, fields stored one after
//! another); fields `x y z`, `normal_x normal_y normal_z`, `rgb`/`rgba` (packed, as float bits or uint),
//! `intensity`; other fields are named in `dropped`. `VIEWPOINT` (the sensor pose) goes into the metadata.
//! Organized clouds mark empty pixels with NaN; those points are dropped and counted later.

use crate::error::ParseError;
use crate::raw::RawMesh;
use crate::records::{Colors, RecordLayout, RecordPlan, Scalar};

#[derive(Clone, Debug)]
struct Field {
    name: String,
    size: usize,
    kind: u8,
    count: usize,
}

impl Field {
    fn bytes(&self) -> usize {
        self.size * self.count
    }
}

struct Header {
    fields: Vec<Field>,
    points: usize,
    data: String,
    viewpoint: Option<String>,
    width: Option<usize>,
    height: Option<usize>,
    body_start: usize,
    body_line: u64,
}

/// Parse a whole PCD file.
pub(crate) fn parse_pcd(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    let header = parse_header(bytes)?;
    let point_bytes: usize = header.fields.iter().map(Field::bytes).sum();
    let body = &bytes[header.body_start..];
    let ascii_columns;
    let decompressed;
    let source = match header.data.as_str() {
        "ascii" => {
            ascii_columns = read_ascii(body, &header)?;
            Source::Columns(&ascii_columns)
        }
        "binary" => {
            let needed = header
                .points
                .checked_mul(point_bytes)
                .ok_or_else(|| ParseError::byte(0, "POINTS times the point size overflows"))?;
            if body.len() < needed {
                return Err(ParseError::byte(
                    header.body_start as u64 + body.len() as u64,
                    format!(
                        "{} points of {point_bytes} bytes need {needed} bytes, the file has {}",
                        header.points,
                        body.len()
                    ),
                ));
            }
            Source::Rows {
                data: &body[..needed],
                point_bytes,
            }
        }
        "binary_compressed" => {
            decompressed = decompress_columns(body, &header, point_bytes)?;
            Source::Blocks {
                data: &decompressed,
            }
        }
        other => {
            return Err(ParseError::line(
                header.body_line - 1,
                format!("unknown DATA type {other:?}"),
            ));
        }
    };
    assemble(&header, &source)
}

fn parse_header(bytes: &[u8]) -> Result<Header, ParseError> {
    let mut names: Vec<String> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    let mut kinds: Vec<u8> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let (mut points, mut width, mut height, mut viewpoint) = (None, None, None, None);
    let mut lines = crate::text::HeaderLines::new(bytes);
    loop {
        let line = lines.next_line("header ends without a DATA line")?.trim();
        let line_number = lines.line_number;
        let mut words = line.split_ascii_whitespace();
        let Some(key) = words.next() else { continue };
        let values: Vec<&str> = words.collect();
        let numbers = |what: &str| -> Result<Vec<usize>, ParseError> {
            values
                .iter()
                .map(|v| {
                    v.parse::<usize>().map_err(|_| {
                        ParseError::line(
                            line_number,
                            format!("{what} value {v:?} is not a whole number"),
                        )
                    })
                })
                .collect()
        };
        match key {
            _ if key.starts_with('#') => {}
            "VERSION" => {}
            "FIELDS" | "COLUMNS" => names = values.iter().map(|v| (*v).to_owned()).collect(),
            "SIZE" => sizes = numbers("SIZE")?,
            "TYPE" => {
                kinds = values
                    .iter()
                    .map(|v| v.bytes().next().unwrap_or(b'?'))
                    .collect();
            }
            "COUNT" => counts = numbers("COUNT")?,
            "WIDTH" => width = numbers("WIDTH")?.first().copied(),
            "HEIGHT" => height = numbers("HEIGHT")?.first().copied(),
            "POINTS" => points = numbers("POINTS")?.first().copied(),
            "VIEWPOINT" => viewpoint = Some(values.join(" ")),
            "DATA" => {
                let data = values.first().copied().unwrap_or("").to_owned();
                if counts.is_empty() {
                    counts = vec![1; names.len()];
                }
                if names.is_empty()
                    || sizes.len() != names.len()
                    || kinds.len() != names.len()
                    || counts.len() != names.len()
                {
                    return Err(ParseError::line(
                        line_number,
                        format!(
                            "FIELDS ({}), SIZE ({}), TYPE ({}) and COUNT ({}) disagree",
                            names.len(),
                            sizes.len(),
                            kinds.len(),
                            counts.len()
                        ),
                    ));
                }
                let mut fields = Vec::new();
                for i in 0..names.len() {
                    let valid = matches!(
                        (kinds[i], sizes[i]),
                        (b'I' | b'U', 1 | 2 | 4 | 8) | (b'F', 4 | 8)
                    );
                    if !valid || counts[i] == 0 || counts[i] > 1 << 16 {
                        return Err(ParseError::line(
                            line_number,
                            format!(
                                "field {} has TYPE {} SIZE {} COUNT {}",
                                names[i], kinds[i] as char, sizes[i], counts[i]
                            ),
                        ));
                    }
                    fields.push(Field {
                        name: names[i].clone(),
                        size: sizes[i],
                        kind: kinds[i],
                        count: counts[i],
                    });
                }
                let points = match (points, width, height) {
                    (Some(p), _, _) => p,
                    (None, Some(w), Some(h)) => w.saturating_mul(h),
                    _ => {
                        return Err(ParseError::line(
                            line_number,
                            "neither POINTS nor WIDTH and HEIGHT",
                        ));
                    }
                };
                return Ok(Header {
                    fields,
                    points,
                    data,
                    viewpoint,
                    width,
                    height,
                    body_start: lines.offset,
                    body_line: lines.line_number + 1,
                });
            }
            other => {
                return Err(ParseError::line(
                    line_number,
                    format!("unknown header keyword {other:?}"),
                ));
            }
        }
    }
}

impl Field {
    /// The value type (the header parser accepts only these TYPE and SIZE pairs).
    fn scalar(&self) -> Scalar {
        match (self.kind, self.size) {
            (b'F', 4) => Scalar::F32,
            (b'F', _) => Scalar::F64,
            (b'I', 1) => Scalar::I8,
            (b'I', 2) => Scalar::I16,
            (b'I', 4) => Scalar::I32,
            (b'I', _) => Scalar::I64,
            (_, 1) => Scalar::U8,
            (_, 2) => Scalar::U16,
            (_, 4) => Scalar::U32,
            _ => Scalar::U64,
        }
    }
}

/// Packed colours are read as the raw 32 bits whatever the declared type (PCL stores `rgb` as float bits).
fn packed_bits(bytes: &[u8]) -> f64 {
    f64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn is_packed_color(field: &Field) -> bool {
    (field.name == "rgb" || field.name == "rgba") && field.size == 4
}

/// Where the values are: parsed ascii columns, binary rows (one point after another), or the
/// decompressed blocks of `binary_compressed` (one field after another).
enum Source<'a> {
    Columns(&'a [Vec<f64>]),
    Rows { data: &'a [u8], point_bytes: usize },
    Blocks { data: &'a [u8] },
}

/// Fields exhibit does not keep, one phrase each: fields of several values first, then unknown ones.
fn unknown_fields(header: &Header) -> Vec<String> {
    const KNOWN: [&str; 10] = [
        "x",
        "y",
        "z",
        "normal_x",
        "normal_y",
        "normal_z",
        "rgb",
        "rgba",
        "intensity",
        "_",
    ];
    let several = header
        .fields
        .iter()
        .filter(|f| f.count != 1 && f.name != "_")
        .map(|f| format!("field {} ({} values per point)", f.name, f.count));
    let unknown = header
        .fields
        .iter()
        .filter(|f| f.count == 1 && !KNOWN.contains(&f.name.as_str()))
        .map(|f| format!("field {}", f.name));
    several.chain(unknown).collect()
}

fn header_metadata(header: &Header) -> Vec<(String, String)> {
    let mut metadata = Vec::new();
    if let Some(viewpoint) = &header.viewpoint {
        metadata.push(("viewpoint (tx ty tz qw qx qy qz)".into(), viewpoint.clone()));
    }
    if let (Some(w), Some(h)) = (header.width, header.height)
        && h > 1
    {
        metadata.push(("organized".into(), format!("{w} x {h}")));
    }
    metadata
}

/// A `DATA binary` PCD (one point after another, fixed size), which [`crate::records`] can decode while
/// the file streams past. `Ok(None)` for ascii and compressed data, which are read whole.
pub(crate) fn record_plan(head: &[u8]) -> Result<Option<RecordPlan>, ParseError> {
    let header = parse_header(head)?;
    if header.data != "binary" {
        return Ok(None);
    }
    let mut offsets = std::collections::BTreeMap::new();
    let mut offset = 0;
    for field in &header.fields {
        if field.count == 1 {
            // A repeated name: the last one counts, as in the in-memory reader.
            offsets.insert(field.name.as_str(), (offset, field));
        }
        offset += field.bytes();
    }
    let get = |name: &str| {
        offsets
            .get(name)
            .map(|&(offset, field)| crate::records::Field {
                offset,
                kind: field.scalar(),
            })
    };
    let (Some(x), Some(y), Some(z)) = (get("x"), get("y"), get("z")) else {
        return Err(ParseError::line(
            header.body_line - 1,
            "no x, y and z fields",
        ));
    };
    let normal = match (get("normal_x"), get("normal_y"), get("normal_z")) {
        (Some(nx), Some(ny), Some(nz)) => Some([nx, ny, nz]),
        _ => None,
    };
    if ["rgb", "rgba"]
        .iter()
        .any(|name| offsets.get(name).is_some_and(|(_, f)| !is_packed_color(f)))
    {
        // A colour that is not 32 packed bits: rare enough to leave to the in-memory reader.
        return Ok(None);
    }
    let packed = |name: &str, alpha: bool| {
        offsets
            .get(name)
            .filter(|(_, field)| is_packed_color(field))
            .map(|&(offset, _)| Colors::Packed { offset, alpha })
    };
    Ok(Some(RecordPlan {
        format: "pcd-binary".into(),
        body_start: header.body_start,
        count: header.points,
        layout: RecordLayout {
            stride: offset,
            big_endian: false,
            position: [x, y, z],
            position_transform: None,
            normal,
            colors: packed("rgba", true).or_else(|| packed("rgb", false)),
            intensity: get("intensity"),
        },
        dropped: unknown_fields(&header),
        metadata: header_metadata(&header),
        element: "point".into(),
    }))
}

/// Reads one value of one single-count field for any point, whatever the source.
struct FieldReader<'a> {
    source: &'a Source<'a>,
    field: &'a Field,
    /// Column number (ascii), byte offset in a row (binary) or start of the field's block (compressed).
    at: usize,
}

impl FieldReader<'_> {
    fn get(&self, point: usize) -> f64 {
        let raw = match self.source {
            Source::Columns(columns) => return columns[self.at][point],
            Source::Rows { data, point_bytes } => {
                &data[point * point_bytes + self.at..][..self.field.size]
            }
            Source::Blocks { data } => {
                &data[self.at + point * self.field.size..][..self.field.size]
            }
        };
        if is_packed_color(self.field) {
            packed_bits(raw)
        } else {
            self.field.scalar().load(raw, false)
        }
    }
}

fn read_ascii(body: &[u8], header: &Header) -> Result<Vec<Vec<f64>>, ParseError> {
    let width: usize = header.fields.iter().map(|f| f.count).sum();
    // Every value takes at least two bytes: a count the file cannot hold is refused before allocating.
    if header.points.saturating_mul(width * 2) > body.len() + 1 {
        return Err(ParseError::line(
            header.body_line,
            format!("POINTS {} is more than the file can hold", header.points),
        ));
    }
    let mut columns: Vec<Vec<f64>> = (0..width)
        .map(|_| Vec::with_capacity(header.points))
        .collect();
    let mut line_number = header.body_line;
    let mut read = 0;
    for line in body.split(|&b| b == b'\n') {
        if read == header.points {
            break;
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::line(line_number, "line is not text"))?;
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        if words.is_empty() {
            line_number += 1;
            continue;
        }
        if words.len() != width {
            return Err(ParseError::line(
                line_number,
                format!("{} values where the header declares {width}", words.len()),
            ));
        }
        let mut column = 0;
        for field in &header.fields {
            for _ in 0..field.count {
                let word = words[column];
                let parsed: f64 = word.parse().map_err(|_| {
                    ParseError::line(line_number, format!("{word:?} is not a number"))
                })?;
                // Packed colours in ascii are written as the float whose bits are the colour, or as an integer.
                let parsed = if is_packed_color(field) && field.kind == b'F' {
                    f64::from((parsed as f32).to_bits())
                } else {
                    parsed
                };
                columns[column].push(parsed);
                column += 1;
            }
        }
        read += 1;
        line_number += 1;
    }
    if read != header.points {
        return Err(ParseError::line(
            line_number,
            format!("{read} points where POINTS says {}", header.points),
        ));
    }
    Ok(columns)
}

/// `binary_compressed`: two u32 sizes, then LZF data that expands to every field's values, field after field.
fn decompress_columns(
    body: &[u8],
    header: &Header,
    point_bytes: usize,
) -> Result<Vec<u8>, ParseError> {
    let at = |o: usize| header.body_start as u64 + o as u64;
    if body.len() < 8 {
        return Err(ParseError::byte(
            at(body.len()),
            "file ends before the compressed sizes",
        ));
    }
    let compressed = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
    let uncompressed = u32::from_le_bytes([body[4], body[5], body[6], body[7]]) as usize;
    let expected = header
        .points
        .checked_mul(point_bytes)
        .ok_or_else(|| ParseError::byte(at(0), "POINTS times the point size overflows"))?;
    if uncompressed != expected {
        return Err(ParseError::byte(
            at(4),
            format!(
                "uncompressed size {uncompressed} is not {} points of {point_bytes} bytes",
                header.points
            ),
        ));
    }
    if compressed > body.len() - 8 {
        return Err(ParseError::byte(
            at(0),
            format!("compressed size {compressed} runs past the end of the file"),
        ));
    }
    lzf_decompress(&body[8..8 + compressed], uncompressed)
        .map_err(|(offset, reason)| ParseError::byte(at(8 + offset), reason))
}

/// LZF (liblzf), the compressor PCL uses. Produces exactly `expected` bytes or an error with the offset.
pub(crate) fn lzf_decompress(input: &[u8], expected: usize) -> Result<Vec<u8>, (usize, String)> {
    // LZF expands at most about 100:1; a larger claim is a lie, refused before allocating.
    if expected > input.len().saturating_mul(128).saturating_add(64) {
        return Err((
            0,
            format!(
                "claims {expected} bytes from {} compressed bytes",
                input.len()
            ),
        ));
    }
    let mut out: Vec<u8> = Vec::with_capacity(expected);
    let mut i = 0;
    while i < input.len() {
        let control = usize::from(input[i]);
        let at = i;
        i += 1;
        if control < 32 {
            let run = control + 1;
            if i + run > input.len() || out.len() + run > expected {
                return Err((at, "literal run past the end".into()));
            }
            out.extend_from_slice(&input[i..i + run]);
            i += run;
        } else {
            let mut length = control >> 5;
            if length == 7 {
                let Some(&extra) = input.get(i) else {
                    return Err((at, "truncated back reference".into()));
                };
                length += usize::from(extra);
                i += 1;
            }
            let Some(&low) = input.get(i) else {
                return Err((at, "truncated back reference".into()));
            };
            i += 1;
            let distance = ((control & 0x1f) << 8) + usize::from(low) + 1;
            let length = length + 2;
            if distance > out.len() || out.len() + length > expected {
                return Err((
                    at,
                    format!(
                        "back reference of {length} bytes at distance {distance} is out of range"
                    ),
                ));
            }
            let start = out.len() - distance;
            for k in 0..length {
                out.push(out[start + k]);
            }
        }
    }
    if out.len() != expected {
        return Err((
            input.len(),
            format!("decompressed to {} bytes, expected {expected}", out.len()),
        ));
    }
    Ok(out)
}

fn assemble(header: &Header, source: &Source<'_>) -> Result<RawMesh, ParseError> {
    use rayon::prelude::*;
    let mut raw = RawMesh {
        format: format!("pcd-{}", header.data),
        ..RawMesh::default()
    };
    let mut readers = std::collections::BTreeMap::new();
    let (mut column, mut row_offset, mut block_offset) = (0, 0, 0);
    for field in &header.fields {
        if field.count == 1 {
            let at = match source {
                Source::Columns(_) => column,
                Source::Rows { .. } => row_offset,
                Source::Blocks { .. } => block_offset,
            };
            readers.insert(field.name.as_str(), FieldReader { source, field, at });
        }
        column += field.count;
        row_offset += field.bytes();
        block_offset += header.points * field.bytes();
    }
    let get = |name: &str| readers.get(name);
    let (Some(x), Some(y), Some(z)) = (get("x"), get("y"), get("z")) else {
        return Err(ParseError::line(
            header.body_line - 1,
            "no x, y and z fields",
        ));
    };
    // Each attribute in one parallel pass over the points, straight into its array (order kept).
    let points = || (0..header.points).into_par_iter().with_min_len(1 << 14);
    raw.positions = points().map(|i| [x.get(i), y.get(i), z.get(i)]).collect();
    if let (Some(nx), Some(ny), Some(nz)) = (get("normal_x"), get("normal_y"), get("normal_z")) {
        raw.normals = Some(
            points()
                .map(|i| [nx.get(i) as f32, ny.get(i) as f32, nz.get(i) as f32])
                .collect(),
        );
    }
    let packed = get("rgba")
        .map(|c| (c, true))
        .or_else(|| get("rgb").map(|c| (c, false)));
    if let Some((values, has_alpha)) = packed {
        raw.colors_srgb = Some(
            points()
                .map(|i| {
                    let bits = values.get(i) as u32;
                    let alpha = if has_alpha { (bits >> 24) as u8 } else { 255 };
                    [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8, alpha]
                })
                .collect(),
        );
    }
    if let Some(values) = get("intensity") {
        raw.intensity = Some(points().map(|i| values.get(i) as f32).collect());
    }
    raw.dropped.extend(unknown_fields(header));
    raw.metadata = header_metadata(header);
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzf_round_trip_of_a_hand_made_stream() {
        // "abcabcabcX": literal "abc", back reference (length 6, distance 3), literal "X".
        let stream = [2, b'a', b'b', b'c', (4 << 5), 2, 0, b'X'];
        assert_eq!(lzf_decompress(&stream, 10).unwrap(), b"abcabcabcX");
        assert!(lzf_decompress(&stream, 11).is_err());
        assert!(
            lzf_decompress(&[(1 << 5), 9], 3)
                .unwrap_err()
                .1
                .contains("out of range")
        );
        assert!(
            lzf_decompress(&[0], 1)
                .unwrap_err()
                .1
                .contains("past the end")
        );
        assert!(
            lzf_decompress(&[0, 1], 1_000_000)
                .unwrap_err()
                .1
                .contains("claims")
        );
    }

    #[test]
    fn ascii_with_packed_rgb_and_viewpoint() {
        let rgb = f32::from_bits(0x00ff_8001);
        let text = format!(
            "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z rgb curvature\nSIZE 4 4 4 4 4\nTYPE F F F F F\nCOUNT 1 1 1 1 1\nWIDTH 2\nHEIGHT 1\nVIEWPOINT 1 2 3 1 0 0 0\nPOINTS 2\nDATA ascii\n0 0 0 {rgb:e} 0.5\n1 2 nan {rgb:e} 0.1\n"
        );
        let raw = parse_pcd(text.as_bytes()).unwrap();
        assert_eq!(raw.positions[0], [0.0, 0.0, 0.0]);
        assert!(raw.positions[1][2].is_nan());
        assert_eq!(raw.colors_srgb.unwrap()[0], [255, 128, 1, 255]);
        assert_eq!(raw.dropped, vec!["field curvature".to_owned()]);
        assert_eq!(raw.metadata[0].1, "1 2 3 1 0 0 0");
    }

    #[test]
    fn reject_lying_headers() {
        let head = "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 1000000000\nHEIGHT 1\nPOINTS 1000000000\nDATA binary\n";
        let error = parse_pcd(head.as_bytes()).unwrap_err();
        assert!(error.reason.contains("need 12000000000 bytes"), "{error:?}");
        let ascii = head.replace("binary", "ascii");
        assert!(
            parse_pcd(ascii.as_bytes())
                .unwrap_err()
                .reason
                .contains("more than the file can hold")
        );
        let bad = "FIELDS x y z\nSIZE 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n0 0 0\n";
        assert!(
            parse_pcd(bad.as_bytes())
                .unwrap_err()
                .reason
                .contains("disagree")
        );
    }
}
