//! PLY: ascii, binary little- and big-endian; any property order and type; vertex and face elements.
//!
//! Elements other than `vertex` and `face` (such as the Stanford scans' `range_grid`) are read past
//! and named in `dropped`, as are vertex properties exhibit does not keep (`confidence`, `intensity`).

use crate::error::ParseError;
use crate::raw::RawMesh;
use crate::records::{Colors, Field, RecordLayout, RecordPlan, Scalar};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Ascii,
    BinaryLittle,
    BinaryBig,
}

/// A PLY type name as a scalar type (PLY has no 64-bit integers).
fn scalar_named(name: &str) -> Option<Scalar> {
    Some(match name {
        "char" | "int8" => Scalar::I8,
        "uchar" | "uint8" => Scalar::U8,
        "short" | "int16" => Scalar::I16,
        "ushort" | "uint16" => Scalar::U16,
        "int" | "int32" => Scalar::I32,
        "uint" | "uint32" => Scalar::U32,
        "float" | "float32" => Scalar::F32,
        "double" | "float64" => Scalar::F64,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
enum Kind {
    Scalar(Scalar),
    List { count: Scalar, item: Scalar },
}

#[derive(Clone, Debug)]
struct Property {
    name: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
struct Element {
    name: String,
    count: u64,
    properties: Vec<Property>,
}

/// What a vertex property is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Position(usize),
    Normal(usize),
    Color(usize),
    Intensity,
    /// Texture coordinate u (0) or v (1), origin at the image's bottom-left.
    TexCoord(usize),
    Other,
}

fn vertex_role(name: &str) -> Role {
    match name {
        "x" => Role::Position(0),
        "y" => Role::Position(1),
        "z" => Role::Position(2),
        "nx" => Role::Normal(0),
        "ny" => Role::Normal(1),
        "nz" => Role::Normal(2),
        "red" | "r" | "diffuse_red" => Role::Color(0),
        "green" | "g" | "diffuse_green" => Role::Color(1),
        "blue" | "b" | "diffuse_blue" => Role::Color(2),
        "alpha" | "a" | "diffuse_alpha" => Role::Color(3),
        "intensity" | "scalar_intensity" | "scalar_Intensity" | "quality" | "scalar_quality" => {
            Role::Intensity
        }
        "texture_u" | "texture_s" | "s" | "u" => Role::TexCoord(0),
        "texture_v" | "texture_t" | "t" | "v" => Role::TexCoord(1),
        _ => Role::Other,
    }
}

struct Header {
    encoding: Encoding,
    /// `comment` and `obj_info` lines, in order (scanners put device, units and dates there).
    comments: Vec<(String, String)>,
    elements: Vec<Element>,
    /// Byte offset where the body starts.
    body_start: usize,
    /// Line number of the first body line (ascii).
    body_line: u64,
}

fn parse_header(bytes: &[u8]) -> Result<Header, ParseError> {
    let mut encoding = None;
    let mut elements: Vec<Element> = Vec::new();
    let mut comments = Vec::new();
    let mut lines = crate::text::HeaderLines::new(bytes);
    loop {
        let line = lines.next_line("header has no end_header line")?;
        let line_number = lines.line_number;
        let mut words = line.split_ascii_whitespace();
        let keyword = words.next().unwrap_or("");
        let fail = |reason: String| Err(ParseError::line(line_number, reason));
        match keyword {
            "ply" if line_number == 1 => {}
            _ if line_number == 1 => {
                return fail("not a PLY file: the first line is not \"ply\"".into());
            }
            "format" => {
                encoding = Some(match (words.next(), words.next()) {
                    (Some("ascii"), Some(_)) => Encoding::Ascii,
                    (Some("binary_little_endian"), Some(_)) => Encoding::BinaryLittle,
                    (Some("binary_big_endian"), Some(_)) => Encoding::BinaryBig,
                    _ => return fail(format!("unsupported format line {line:?}")),
                });
            }
            "comment" | "obj_info" => {
                let text = line[keyword.len()..].trim();
                if !text.is_empty() {
                    comments.push((keyword.to_owned(), text.to_owned()));
                }
            }
            "" => {}
            "element" => {
                let (Some(name), Some(count)) = (words.next(), words.next()) else {
                    return fail(format!("element line {line:?} needs a name and a count"));
                };
                let Ok(count) = count.parse::<u64>() else {
                    return fail(format!(
                        "element {name} has count {count:?}, not a whole number"
                    ));
                };
                elements.push(Element {
                    name: name.to_owned(),
                    count,
                    properties: Vec::new(),
                });
            }
            "property" => {
                let Some(element) = elements.last_mut() else {
                    return fail("property before any element".into());
                };
                let words: Vec<&str> = words.collect();
                let property = match words.as_slice() {
                    ["list", count, item, name] => {
                        let (Some(count), Some(item)) = (scalar_named(count), scalar_named(item))
                        else {
                            return fail(format!("unknown type in list property {name}"));
                        };
                        if matches!(count, Scalar::F32 | Scalar::F64) {
                            return fail(format!(
                                "list property {name} has a floating-point count type"
                            ));
                        }
                        Property {
                            name: (*name).to_owned(),
                            kind: Kind::List { count, item },
                        }
                    }
                    [kind, name] => {
                        let Some(scalar) = scalar_named(kind) else {
                            return fail(format!("unknown property type {kind:?}"));
                        };
                        Property {
                            name: (*name).to_owned(),
                            kind: Kind::Scalar(scalar),
                        }
                    }
                    _ => return fail(format!("property line {line:?} is not understood")),
                };
                element.properties.push(property);
            }
            "end_header" => break,
            other => return fail(format!("unknown header keyword {other:?}")),
        }
    }
    let Some(encoding) = encoding else {
        return Err(ParseError::line(
            lines.line_number,
            "header has no format line",
        ));
    };
    Ok(Header {
        encoding,
        comments,
        elements,
        body_start: lines.offset,
        body_line: lines.line_number + 1,
    })
}

/// A source of values: either ascii lines or a binary cursor.
trait Values {
    fn begin_record(&mut self) -> Result<(), ParseError>;
    fn scalar(&mut self, kind: Scalar) -> Result<f64, ParseError>;
    fn end_record(&mut self) -> Result<(), ParseError>;
    fn error(&self, reason: String) -> ParseError;
    /// Bytes left, to bound allocations by what the file can really hold.
    fn remaining(&self) -> usize;
    /// The fewest bytes one record of this element can take in this encoding.
    fn min_record_bytes(&self, element: &Element) -> usize;
    /// For binary data: the next `length` bytes, consumed; `None` for ascii or when they are not there.
    fn take_bytes(&mut self, length: usize) -> Option<(&[u8], bool)>;
}

struct Binary<'a> {
    bytes: &'a [u8],
    offset: usize,
    big_endian: bool,
}

impl Values for Binary<'_> {
    fn begin_record(&mut self) -> Result<(), ParseError> {
        Ok(())
    }

    fn scalar(&mut self, kind: Scalar) -> Result<f64, ParseError> {
        let size = kind.size();
        let Some(b) = self.bytes.get(self.offset..self.offset + size) else {
            return Err(ParseError::byte(
                self.offset as u64,
                "file ends inside the data",
            ));
        };
        self.offset += size;
        Ok(kind.load(b, self.big_endian))
    }

    fn end_record(&mut self) -> Result<(), ParseError> {
        Ok(())
    }

    fn error(&self, reason: String) -> ParseError {
        ParseError::byte(self.offset as u64, reason)
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.offset)
    }

    fn take_bytes(&mut self, length: usize) -> Option<(&[u8], bool)> {
        let end = self
            .offset
            .checked_add(length)
            .filter(|&end| end <= self.bytes.len())?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Some((slice, self.big_endian))
    }

    fn min_record_bytes(&self, element: &Element) -> usize {
        let sizes = element.properties.iter().map(|p| match p.kind {
            Kind::Scalar(s) => s.size(),
            Kind::List { count, .. } => count.size(),
        });
        sizes.sum::<usize>().max(1)
    }
}

struct Ascii<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
    tokens: std::vec::IntoIter<&'a str>,
}

impl<'a> Values for Ascii<'a> {
    fn begin_record(&mut self) -> Result<(), ParseError> {
        // Records are one per line; blank lines between them are tolerated.
        loop {
            if self.offset >= self.bytes.len() {
                return Err(ParseError::line(
                    self.line,
                    "file ends before all elements were read",
                ));
            }
            let end = self.bytes[self.offset..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.bytes.len(), |p| self.offset + p);
            let text: &'a str = std::str::from_utf8(&self.bytes[self.offset..end])
                .map_err(|_| ParseError::line(self.line, "line is not text"))?;
            self.offset = end + 1;
            let tokens: Vec<&'a str> = text.split_ascii_whitespace().collect();
            if tokens.is_empty() {
                self.line += 1;
                continue;
            }
            self.tokens = tokens.into_iter();
            return Ok(());
        }
    }

    fn scalar(&mut self, kind: Scalar) -> Result<f64, ParseError> {
        let Some(token) = self.tokens.next() else {
            return Err(ParseError::line(
                self.line,
                "line has fewer values than the header declares",
            ));
        };
        let value: f64 = token
            .parse()
            .map_err(|_| ParseError::line(self.line, format!("{token:?} is not a number")))?;
        if !matches!(kind, Scalar::F32 | Scalar::F64) && value.fract() != 0.0 {
            return Err(ParseError::line(
                self.line,
                format!("{token:?} is not a whole number"),
            ));
        }
        Ok(value)
    }

    fn end_record(&mut self) -> Result<(), ParseError> {
        if self.tokens.next().is_some() {
            return Err(ParseError::line(
                self.line,
                "line has more values than the header declares",
            ));
        }
        self.line += 1;
        Ok(())
    }

    fn error(&self, reason: String) -> ParseError {
        ParseError::line(self.line, reason)
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.offset)
    }

    fn take_bytes(&mut self, _length: usize) -> Option<(&[u8], bool)> {
        None
    }

    fn min_record_bytes(&self, element: &Element) -> usize {
        // Each value is at least one character and one separator (a space or the newline).
        2 * element.properties.len().max(1)
    }
}

/// Parse a whole PLY file.
pub(crate) fn parse_ply(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    let header = parse_header(bytes)?;
    let body = &bytes[header.body_start..];
    match header.encoding {
        Encoding::Ascii => {
            let mut values = Ascii {
                bytes: body,
                offset: 0,
                line: header.body_line,
                tokens: Vec::new().into_iter(),
            };
            read_body(&header, &mut values, "ply-ascii")
        }
        Encoding::BinaryLittle | Encoding::BinaryBig => {
            let big_endian = header.encoding == Encoding::BinaryBig;
            let mut values = Binary {
                bytes,
                offset: header.body_start,
                big_endian,
            };
            read_body(
                &header,
                &mut values,
                if big_endian {
                    "ply-binary-be"
                } else {
                    "ply-binary-le"
                },
            )
        }
    }
}

fn read_body(
    header: &Header,
    values: &mut impl Values,
    format: &str,
) -> Result<RawMesh, ParseError> {
    let mut raw = RawMesh {
        format: format.to_owned(),
        ..RawMesh::default()
    };
    raw.metadata = comment_metadata(header);
    let mut seen_vertex = false;
    let mut polygons: Vec<u32> = Vec::new();
    for element in &header.elements {
        // Each record takes at least one byte (binary) or two (ascii): a count the rest of the file
        // cannot hold is a lie, refused before any allocation.
        let min_record = values.min_record_bytes(element) as u64;
        // The last ascii line may lack its newline: allow one byte less.
        if element.count.saturating_mul(min_record) > values.remaining() as u64 + 1 {
            return Err(values.error(format!(
                "element {} declares {} records, more than the remaining {} bytes can hold",
                element.name,
                element.count,
                values.remaining()
            )));
        }
        match element.name.as_str() {
            "vertex" if !seen_vertex => {
                seen_vertex = true;
                read_vertices(element, values, &mut raw)?;
            }
            "face" => read_faces(element, values, &mut raw, &mut polygons)?,
            _ => {
                skip_element(element, values)?;
                raw.dropped.push(format!(
                    "element {} ({} records)",
                    element.name, element.count
                ));
            }
        }
    }
    if !seen_vertex {
        return Err(values.error("no vertex element".into()));
    }
    let vertex_count = raw.positions.len() as u64;
    if let Some(&bad) = raw.indices.iter().find(|&&i| u64::from(i) >= vertex_count) {
        return Err(values.error(format!(
            "a face refers to vertex {bad}, but there are only {vertex_count} vertices"
        )));
    }
    if let Some(refs) = &mut raw.texture_refs {
        // `comment TextureFile NAME` (MeshLab, Artec): the images, numbered as `texnumber` counts them.
        refs.texture_files = header
            .comments
            .iter()
            .filter_map(|(_, text)| text.strip_prefix("TextureFile "))
            .map(|name| name.trim().to_owned())
            .collect();
        let triangles = raw.indices.len() / 3;
        if refs.triangle_material.len() != triangles {
            refs.triangle_material = vec![0; triangles];
        }
        if raw.indices.is_empty() {
            raw.dropped
                .push("texture coordinates (a point cloud keeps none)".into());
            raw.texture_refs = None;
        }
    }
    Ok(raw)
}

/// What each vertex property is for, and which are kept.
#[allow(
    clippy::struct_excessive_bools,
    reason = "which attributes the file has, one flag each"
)]
struct VertexRoles {
    roles: Vec<Role>,
    has_normals: bool,
    has_colors: bool,
    has_intensity: bool,
    has_texcoords: bool,
    /// "vertex property NAME" for every property not kept.
    dropped: Vec<String>,
}

fn vertex_roles(element: &Element) -> Result<VertexRoles, String> {
    let mut roles: Vec<Role> = element
        .properties
        .iter()
        .map(|p| vertex_role(&p.name))
        .collect();
    // One intensity channel is kept: the first; any other is dropped like an unknown property.
    if let Some(first) = roles.iter().position(|&r| r == Role::Intensity) {
        for role in roles.iter_mut().skip(first + 1) {
            if *role == Role::Intensity {
                *role = Role::Other;
            }
        }
    }
    for axis in 0..3 {
        if !roles.contains(&Role::Position(axis)) {
            return Err(format!(
                "vertex element has no {} property",
                ["x", "y", "z"][axis]
            ));
        }
    }
    let has_normals = (0..3).all(|a| roles.contains(&Role::Normal(a)));
    let has_colors = (0..3).all(|a| roles.contains(&Role::Color(a)));
    let has_texcoords = (0..2).all(|a| roles.contains(&Role::TexCoord(a)));
    let dropped = element
        .properties
        .iter()
        .zip(&roles)
        .filter(|(_, role)| match role {
            Role::Position(_) | Role::Intensity => false,
            Role::Normal(_) => !has_normals,
            Role::Color(_) => !has_colors,
            Role::TexCoord(_) => !has_texcoords,
            Role::Other => true,
        })
        .map(|(property, _)| format!("vertex property {}", property.name))
        .collect();
    Ok(VertexRoles {
        has_intensity: roles.contains(&Role::Intensity),
        roles,
        has_normals,
        has_colors,
        has_texcoords,
        dropped,
    })
}

/// The record layout of a vertex element whose properties are all scalars (no lists), else `None`.
fn vertex_layout(element: &Element, roles: &VertexRoles, big_endian: bool) -> Option<RecordLayout> {
    // Texture coordinates are read by the general loop (the fixed layouts carry points' attributes).
    if roles.has_texcoords {
        return None;
    }
    let mut offset = 0;
    let mut fields = Vec::new();
    for (property, &role) in element.properties.iter().zip(&roles.roles) {
        let Kind::Scalar(kind) = property.kind else {
            return None;
        };
        fields.push((Field { offset, kind }, role));
        offset += kind.size();
    }
    let field = |want: Role| fields.iter().find(|f| f.1 == want).map(|f| f.0);
    let axes = |role: fn(usize) -> Role| -> Option<[Field; 3]> {
        Some([field(role(0))?, field(role(1))?, field(role(2))?])
    };
    Some(RecordLayout {
        stride: offset,
        big_endian,
        position: axes(Role::Position)?,
        position_transform: None,
        normal: roles.has_normals.then(|| axes(Role::Normal)).flatten(),
        colors: roles
            .has_colors
            .then(|| Colors::Channels([0, 1, 2, 3].map(|c| field(Role::Color(c))))),
        intensity: field(Role::Intensity),
    })
}

/// A binary PLY of points (one vertex element of scalar properties; any other element empty), which
/// [`crate::records`] can decode while the file streams past: its layout, where the records start and
/// how many there are. `Ok(None)` for anything else, which is read whole.
pub(crate) fn record_plan(head: &[u8]) -> Result<Option<RecordPlan>, ParseError> {
    let header = parse_header(head)?;
    let big_endian = match header.encoding {
        Encoding::Ascii => return Ok(None),
        Encoding::BinaryLittle => false,
        Encoding::BinaryBig => true,
    };
    let [vertex] = header.elements.as_slice() else {
        return Ok(None);
    };
    if vertex.name != "vertex" {
        return Ok(None);
    }
    let roles = vertex_roles(vertex)
        .map_err(|reason| ParseError::byte(header.body_start as u64, reason))?;
    let Some(layout) = vertex_layout(vertex, &roles, big_endian) else {
        return Ok(None);
    };
    let Ok(count) = usize::try_from(vertex.count) else {
        return Ok(None);
    };
    Ok(Some(RecordPlan {
        format: if big_endian {
            "ply-binary-be"
        } else {
            "ply-binary-le"
        }
        .into(),
        body_start: header.body_start,
        count,
        layout,
        dropped: roles.dropped,
        metadata: comment_metadata(&header),
        element: "vertex".into(),
    }))
}

fn comment_metadata(header: &Header) -> Vec<(String, String)> {
    header
        .comments
        .iter()
        .enumerate()
        .map(|(number, (kind, text))| (format!("{kind} {}", number + 1), text.clone()))
        .collect()
}

fn read_vertices(
    element: &Element,
    values: &mut impl Values,
    raw: &mut RawMesh,
) -> Result<(), ParseError> {
    let vertex = vertex_roles(element).map_err(|reason| values.error(reason))?;
    raw.dropped.extend(vertex.dropped.iter().cloned());
    let (has_normals, has_colors, has_intensity) =
        (vertex.has_normals, vertex.has_colors, vertex.has_intensity);
    if let Some(layout) = vertex_layout(element, &vertex, false) {
        let length = (element.count as usize).checked_mul(layout.stride);
        if let Some((bytes, big_endian)) = length.and_then(|length| values.take_bytes(length)) {
            let layout = RecordLayout {
                big_endian,
                ..layout
            };
            decode_fixed_vertices(bytes, &layout, raw);
            return Ok(());
        }
    }
    let roles = &vertex.roles;
    let capacity = (element.count as usize).min(values.remaining());
    raw.positions.reserve(capacity);
    let mut normals = Vec::with_capacity(if has_normals { capacity } else { 0 });
    let mut colors = Vec::with_capacity(if has_colors { capacity } else { 0 });
    let mut intensity = Vec::with_capacity(if has_intensity { capacity } else { 0 });
    let mut texcoords = Vec::with_capacity(if vertex.has_texcoords { capacity } else { 0 });
    for _ in 0..element.count {
        values.begin_record()?;
        let mut texcoord = [0.0f32; 2];
        let mut position = [0.0f64; 3];
        let mut normal = [0.0f32; 3];
        let mut color = [0.0f64, 0.0, 0.0, 255.0];
        for (property, role) in element.properties.iter().zip(roles) {
            match (&property.kind, role) {
                (Kind::Scalar(kind), Role::Position(axis)) => {
                    position[*axis] = values.scalar(*kind)?;
                }
                (Kind::Scalar(kind), Role::Normal(axis)) => {
                    normal[*axis] = values.scalar(*kind)? as f32;
                }
                (Kind::Scalar(kind), Role::Color(channel)) => {
                    color[*channel] = values.scalar(*kind)? * kind.color_scale();
                }
                (Kind::Scalar(kind), Role::Intensity) => {
                    intensity.push(values.scalar(*kind)? as f32);
                }
                (Kind::Scalar(kind), Role::TexCoord(axis)) => {
                    texcoord[*axis] = values.scalar(*kind)? as f32;
                }
                (Kind::Scalar(kind), Role::Other) => {
                    values.scalar(*kind)?;
                }
                (Kind::List { count, item }, _) => skip_list(values, *count, *item)?,
            }
        }
        values.end_record()?;
        raw.positions.push(position);
        if has_normals {
            normals.push(normal);
        }
        if has_colors {
            colors.push(color.map(|c| c.round().clamp(0.0, 255.0) as u8));
        }
        if vertex.has_texcoords {
            texcoords.push(texcoord);
        }
    }
    if vertex.has_texcoords {
        raw.texture_refs = Some(crate::raw::TextureRefs {
            uvs: texcoords,
            ..crate::raw::TextureRefs::default()
        });
    }
    raw.normals = has_normals.then_some(normals);
    raw.colors_srgb = has_colors.then_some(colors);
    raw.intensity = has_intensity.then_some(intensity);
    Ok(())
}

/// Binary vertices with only scalar properties, in memory: positions as f64 in the file's unit (for a
/// mesh, whose faces come next), the other attributes by the same decoders the streaming reader uses.
fn decode_fixed_vertices(bytes: &[u8], layout: &RecordLayout, raw: &mut RawMesh) {
    use rayon::prelude::*;
    let big = layout.big_endian;
    let count = bytes.len() / layout.stride;
    raw.positions = bytes
        .par_chunks_exact(layout.stride)
        .with_min_len(1 << 13)
        .map(|r| layout.position.map(|f| f.kind.load(&r[f.offset..], big)))
        .collect();
    if let Some(fields) = layout.normal {
        let mut out = vec![[0.0; 3]; count];
        crate::records::decode_normals(bytes, layout.stride, big, fields, &mut out);
        raw.normals = Some(out);
    }
    if let Some(colors) = layout.colors {
        let mut out = vec![[0; 4]; count];
        crate::records::decode_colors(bytes, layout.stride, big, colors, &mut out);
        raw.colors_srgb = Some(out);
    }
    if let Some(field) = layout.intensity {
        let mut out = vec![0.0; count];
        crate::records::decode_intensity(bytes, layout.stride, big, field, &mut out);
        raw.intensity = Some(out);
    }
}

fn read_faces(
    element: &Element,
    values: &mut impl Values,
    raw: &mut RawMesh,
    polygon: &mut Vec<u32>,
) -> Result<(), ParseError> {
    let corner_list = element.properties.iter().position(|p| {
        matches!(p.kind, Kind::List { .. })
            && (p.name == "vertex_indices" || p.name == "vertex_index")
    });
    let Some(corner_list) = corner_list else {
        skip_element(element, values)?;
        raw.dropped.push(format!(
            "element face ({} records) without vertex_indices",
            element.count
        ));
        return Ok(());
    };
    // Per-corner texture coordinates (MeshLab's `texcoord`: u v per corner) and the image each face samples.
    let texcoord_list = element
        .properties
        .iter()
        .position(|p| matches!(p.kind, Kind::List { .. }) && p.name == "texcoord");
    let texnumber = element
        .properties
        .iter()
        .position(|p| matches!(p.kind, Kind::Scalar(_)) && p.name == "texnumber");
    for (i, property) in element.properties.iter().enumerate() {
        if i != corner_list && Some(i) != texcoord_list && Some(i) != texnumber {
            raw.dropped.push(format!("face property {}", property.name));
        }
    }
    let mut corner_uvs: Vec<[f32; 2]> = Vec::new();
    let mut face_uvs: Vec<[f32; 2]> = Vec::new();
    raw.indices.reserve(
        (element.count as usize)
            .min(values.remaining())
            .saturating_mul(3),
    );
    let mut triangle_images: Vec<u32> = Vec::new();
    for face in 0..element.count {
        values.begin_record()?;
        let triangles_before = raw.indices.len() / 3;
        let mut image = 0u32;
        face_uvs.clear();
        for (i, property) in element.properties.iter().enumerate() {
            match &property.kind {
                Kind::List { count, item } if Some(i) == texcoord_list => {
                    let n = values.scalar(*count)?;
                    if !(0.0..=2048.0).contains(&n) {
                        return Err(
                            values.error(format!("face {face} declares {n} texture coordinates"))
                        );
                    }
                    let mut flat = Vec::with_capacity(n as usize);
                    for _ in 0..n as u64 {
                        flat.push(values.scalar(*item)? as f32);
                    }
                    face_uvs.extend(flat.chunks_exact(2).map(|c| [c[0], c[1]]));
                }
                Kind::Scalar(kind) if Some(i) == texnumber => {
                    let n = values.scalar(*kind)?;
                    image = if (0.0..65_536.0).contains(&n) {
                        n as u32
                    } else {
                        codec::NO_IMAGE
                    };
                }
                Kind::List { count, item } if i == corner_list => {
                    let corners = values.scalar(*count)?;
                    if corners < 0.0 {
                        return Err(values.error(format!("face {face} declares {corners} corners")));
                    }
                    polygon.clear();
                    for _ in 0..corners as u64 {
                        let index = values.scalar(*item)?;
                        if !(0.0..=f64::from(u32::MAX - 1)).contains(&index) {
                            return Err(
                                values.error(format!("face {face} has vertex index {index}"))
                            );
                        }
                        polygon.push(index as u32);
                    }
                    if polygon.len() < 3 {
                        return Err(values.error(format!(
                            "face {face} has {} corners, fewer than 3",
                            polygon.len()
                        )));
                    }
                    if polygon.len() > 3 {
                        raw.polygons_triangulated += 1;
                    }
                    for k in 2..polygon.len() {
                        raw.indices.extend([polygon[0], polygon[k - 1], polygon[k]]);
                    }
                }
                Kind::List { count, item } => skip_list(values, *count, *item)?,
                Kind::Scalar(kind) => {
                    values.scalar(*kind)?;
                }
            }
        }
        values.end_record()?;
        if texcoord_list.is_some() {
            let corners = (raw.indices.len() / 3 - triangles_before) + 2;
            if face_uvs.len() != corners {
                return Err(values.error(format!(
                    "face {face} has {corners} corners but {} texture coordinates",
                    face_uvs.len()
                )));
            }
            for k in 2..corners {
                corner_uvs.extend([face_uvs[0], face_uvs[k - 1], face_uvs[k]]);
            }
            triangle_images.resize(raw.indices.len() / 3, image);
        } else if texnumber.is_some() {
            triangle_images.resize(raw.indices.len() / 3, image);
        }
    }
    if texcoord_list.is_some() {
        split_corner_texcoords(raw, &corner_uvs);
    }
    if let Some(refs) = &mut raw.texture_refs {
        refs.triangle_material = triangle_images;
    }
    Ok(())
}

/// Per-corner texture coordinates become per-vertex ones: one vertex per distinct (vertex, coordinate) pair,
/// numbered in order of first use after the file's own vertices, so vertices split only at seams.
fn split_corner_texcoords(raw: &mut RawMesh, corner_uvs: &[[f32; 2]]) {
    let vertex_count = raw.positions.len();
    let mut uvs: Vec<Option<[f32; 2]>> = vec![None; vertex_count];
    let mut copies: std::collections::BTreeMap<(u32, [u32; 2]), u32> =
        std::collections::BTreeMap::new();
    let mut sources: Vec<usize> = Vec::new();
    for (index, uv) in raw.indices.iter_mut().zip(corner_uvs) {
        let v = *index as usize;
        match uvs[v] {
            None => uvs[v] = Some(*uv),
            Some(own) if own.map(f32::to_bits) == uv.map(f32::to_bits) => {}
            Some(_) => {
                let next = (vertex_count + sources.len()) as u32;
                *index = *copies
                    .entry((*index, uv.map(f32::to_bits)))
                    .or_insert_with(|| {
                        sources.push(v);
                        uvs.push(Some(*uv));
                        next
                    });
            }
        }
    }
    raw.duplicate_vertices(&sources);
    let refs = raw
        .texture_refs
        .get_or_insert_with(crate::raw::TextureRefs::default);
    refs.uvs = uvs.into_iter().map(|uv| uv.unwrap_or([0.0; 2])).collect();
}

fn skip_element(element: &Element, values: &mut impl Values) -> Result<(), ParseError> {
    for _ in 0..element.count {
        values.begin_record()?;
        for property in &element.properties {
            match property.kind {
                Kind::Scalar(kind) => {
                    values.scalar(kind)?;
                }
                Kind::List { count, item } => skip_list(values, count, item)?,
            }
        }
        values.end_record()?;
    }
    Ok(())
}

fn skip_list(values: &mut impl Values, count: Scalar, item: Scalar) -> Result<(), ParseError> {
    let n = values.scalar(count)?;
    if n < 0.0 {
        return Err(values.error(format!("list declares {n} items")));
    }
    for _ in 0..n as u64 {
        values.scalar(item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_error(text: &[u8], expect: &str) {
        let error = parse_ply(text).unwrap_err();
        assert!(error.reason.contains(expect), "{error:?}");
    }

    #[test]
    fn texture_coordinates_per_vertex_and_per_corner() {
        let per_vertex = parse_ply(
            b"ply\nformat ascii 1.0\ncomment TextureFile print.png\nelement vertex 3\nproperty float x\nproperty float y\n\
property float z\nproperty float texture_u\nproperty float texture_v\nelement face 1\nproperty list uchar int vertex_indices\n\
end_header\n0 0 0 0 0\n1 0 0 1 0\n0 1 0 0 1\n3 0 1 2\n",
        )
        .unwrap();
        let refs = per_vertex.texture_refs.unwrap();
        assert_eq!(refs.uvs, vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]);
        assert_eq!(refs.texture_files, vec!["print.png"]);
        assert_eq!(refs.triangle_material, vec![0]);
        // MeshLab's wedge coordinates: a quad whose corner 0 has two coordinates becomes 5 vertices, not 8.
        let per_corner = parse_ply(
            b"ply\nformat ascii 1.0\ncomment TextureFile a.png\ncomment TextureFile b.png\nelement vertex 4\n\
property float x\nproperty float y\nproperty float z\nelement face 2\nproperty list uchar int vertex_indices\n\
property list uchar float texcoord\nproperty int texnumber\nend_header\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n\
3 0 1 2 6 0 0 1 0 1 1 0\n3 0 2 3 6 0.5 0.5 1 1 0 1 1\n",
        )
        .unwrap();
        assert_eq!(per_corner.positions.len(), 5);
        let refs = per_corner.texture_refs.unwrap();
        assert_eq!(refs.uvs.len(), 5);
        assert_eq!(refs.triangle_material, vec![0, 1]);
        assert_eq!(refs.texture_files, vec!["a.png", "b.png"]);
        assert!(per_corner.dropped.is_empty(), "{:?}", per_corner.dropped);
    }

    #[test]
    fn ascii_quad_becomes_two_triangles() {
        let text = b"ply\nformat ascii 1.0\ncomment hi\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n\
property uchar red\nproperty uchar green\nproperty uchar blue\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n\
0 0 0 255 0 0\n1 0 0 0 255 0\n1 1 0 0 0 255\n0 1 0 9 9 9\n4 0 1 2 3\n";
        let raw = parse_ply(text).unwrap();
        assert_eq!(raw.indices, vec![0, 1, 2, 0, 2, 3]);
        assert_eq!(raw.colors_srgb.unwrap()[3], [9, 9, 9, 255]);
        assert_eq!(raw.polygons_triangulated, 1);
    }

    #[test]
    fn binary_big_endian_matches_little_endian() {
        let mut le = b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty double x\nproperty float y\nproperty short z\n\
element face 1\nproperty list uchar uint vertex_indices\nend_header\n"
            .to_vec();
        let mut be = String::from_utf8(le.clone())
            .unwrap()
            .replace("little", "big")
            .into_bytes();
        for (x, y, z) in [(1.5f64, 2.5f32, 3i16), (4.0, 5.0, -6), (7.0, 8.0, 9)] {
            le.extend(x.to_le_bytes());
            le.extend(y.to_le_bytes());
            le.extend(z.to_le_bytes());
            be.extend(x.to_be_bytes());
            be.extend(y.to_be_bytes());
            be.extend(z.to_be_bytes());
        }
        le.push(3);
        be.push(3);
        for i in [0u32, 1, 2] {
            le.extend(i.to_le_bytes());
            be.extend(i.to_be_bytes());
        }
        let a = parse_ply(&le).unwrap();
        let b = parse_ply(&be).unwrap();
        assert_eq!(
            a.positions,
            vec![[1.5, 2.5, 3.0], [4.0, 5.0, -6.0], [7.0, 8.0, 9.0]]
        );
        assert_eq!(a.positions, b.positions);
        assert_eq!(a.indices, b.indices);
        assert_eq!(b.format, "ply-binary-be");
    }

    #[test]
    fn reject_malformed_ply() {
        check_error(b"plx\n", "first line");
        check_error(
            b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n",
            "end_header",
        );
        check_error(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2        \n", "fewer values");
        check_error(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 zz\n", "\"zz\" is not a number");
        check_error(
            b"ply\nformat binary_little_endian 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\nproperty float z\nend_header\n\0\0\0\0",
            "declares 4000000000 records",
        );
        check_error(
            b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n3 0 1 2\n",
            "refers to vertex 1",
        );
    }
}
