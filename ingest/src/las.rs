//! LAS 1.0–1.4 and LAZ (point formats 0–10, COPC files too) through the `las` crate with LAZ support.
//! Scale and offset are applied (f64); RGB is kept (16-bit values scaled to 8 bits unless the file
//! only uses 0..=255); intensity is kept; classification, returns, GPS time and extra bytes are named
//! in `dropped`. The coordinate system (WKT or GeoTIFF keys) goes into the metadata, and a unit the
//! coordinate system declares in feet becomes the default unit.

use std::io::Cursor;

use crate::Unit;
use crate::error::ParseError;
use crate::raw::RawMesh;

/// Points are decoded in batches, so a lying header never costs more than one batch before the data runs out.
const BATCH: u64 = 1 << 20;

/// LAZ rarely compresses better than 1:15; a header claiming far more points than that is refused.
const MAX_LAZ_EXPANSION: u64 = 100;

/// Fail with the `las` crate's message.
#[allow(clippy::needless_pass_by_value, reason = "used as map_err(fail)")]
fn fail(e: las::Error) -> ParseError {
    ParseError::byte(0, format!("LAS: {e}"))
}

/// What the header tells, for the manifest: the same for both readers.
pub(crate) struct HeaderFacts {
    /// Such as `laz-1.4`.
    pub format: String,
    pub dropped: Vec<String>,
    pub metadata: Vec<(String, String)>,
    /// A coordinate system in feet.
    pub declared_unit: Option<Unit>,
}

/// The point count, refused when the file cannot hold it.
fn point_count(header: &las::Header, file_length: u64) -> Result<u64, ParseError> {
    let format = header.point_format();
    let total = header.number_of_points();
    let record = u64::from(format.len());
    let limit = if format.is_compressed {
        file_length.saturating_mul(MAX_LAZ_EXPANSION)
    } else {
        file_length
    };
    if total.saturating_mul(record) > limit {
        return Err(ParseError::byte(
            107,
            format!(
                "the header declares {total} points of {record} bytes, more than a {file_length} byte file can hold"
            ),
        ));
    }
    Ok(total)
}

/// A LAS or LAZ file read while it streams: the points decoded batch by batch straight into the stored
/// arrays (see `records.rs`), LAZ chunks decompressed in parallel.
pub(crate) struct Streamed {
    pub cloud: crate::raw::Converted<codec::PointCloud>,
    pub facts: HeaderFacts,
    pub points_in: usize,
}

/// Points per batch while streaming: for LAZ, one whole compressed chunk per thread (the decompressor
/// decompresses the chunks of a batch in parallel, and a batch that ends inside a chunk costs a second
/// buffer for the rest of it); otherwise, or for variable-size chunks, a fixed count.
fn batch_size(header: &las::Header) -> usize {
    let fixed = 1 << 17;
    match header.laz_vlr() {
        Ok(vlr) if !vlr.uses_variable_size_chunks() && vlr.chunk_size() > 0 => {
            vlr.chunk_size() as usize * rayon::current_num_threads().max(2)
        }
        _ => fixed,
    }
    .min(BATCH as usize)
}

/// Where red, green and blue start in a record of this point format (LAS 1.4 R15, tables 7–17).
fn rgb_offset(format: las::point::Format) -> usize {
    match format.to_u8() {
        Ok(6..) => 30,
        _ if format.has_gps_time => 28,
        _ => 20,
    }
}

/// Read a LAS or LAZ file from `source` (`head` is its first bytes, `length` its size). The unit is the
/// user's, else the one the coordinate system declares, else metres.
pub(crate) fn stream_las<R: std::io::Read + std::io::Seek + Send + Sync + 'static>(
    head: &[u8],
    length: u64,
    source: R,
    unit: Option<Unit>,
) -> Result<Streamed, ParseError> {
    use crate::records::{Colors, Field, RecordLayout, RecordSink, Scalar};
    check_header(head, length)?;
    let mut source = source;
    check_evlr(head, length, |at, out| {
        source.seek(std::io::SeekFrom::Start(at))?;
        source.read_exact(out)
    })?;
    let mut reader = las::Reader::new(source).map_err(fail)?;
    let header = reader.header().clone();
    let total = usize::try_from(point_count(&header, length)?)
        .map_err(|_| ParseError::byte(107, "more points than this machine can address"))?;
    let mut facts = header_facts(&header);
    let unit = unit.or(facts.declared_unit).unwrap_or(Unit::Metre);
    let format = *header.point_format();
    let mut batch = las::PointDataBuilder::new().for_header(&header).build();
    let transforms = header.transforms();
    let coordinate = |offset| Field {
        offset,
        kind: Scalar::I32,
    };
    let layout = RecordLayout {
        stride: batch.record_len(),
        big_endian: false,
        position: [coordinate(0), coordinate(4), coordinate(8)],
        position_transform: Some(
            [transforms.x, transforms.y, transforms.z].map(|t| (t.scale, t.offset)),
        ),
        normal: None,
        colors: format.has_color.then(|| Colors::Wide {
            offset: rgb_offset(format),
            sixteen_bit: false,
        }),
        intensity: Some(Field {
            offset: 12,
            kind: Scalar::U16,
        }),
    };
    if !layout.is_valid() {
        return Err(ParseError::byte(
            104,
            format!(
                "point format {format} has records of {} bytes, too short for its fields",
                layout.stride
            ),
        ));
    }
    let mut sink = RecordSink::new(layout, total, unit.metres());
    let batch_points = batch_size(&header);
    while sink.len() < total {
        let wanted = (total - sink.len()).min(batch_points) as u64;
        let read = reader.fill_points(wanted, &mut batch).map_err(fail)?;
        if read == 0 {
            return Err(ParseError::byte(
                length,
                format!("the data ends after {} of {total} points", sink.len()),
            ));
        }
        sink.push(batch.raw_bytes());
    }
    if let Some(sixteen_bit) = sink.sixteen_bit_colors() {
        facts.metadata.insert(0, colour_depth(!sixteen_bit));
    }
    Ok(Streamed {
        cloud: sink.finish(),
        facts,
        points_in: total,
    })
}

fn colour_depth(eight_bit: bool) -> (String, String) {
    (
        "colour depth".into(),
        if eight_bit {
            "8-bit values in 16-bit fields"
        } else {
            "16-bit"
        }
        .into(),
    )
}

/// Parse a whole LAS or LAZ file in memory, point by point through the `las` crate's `Point` (an
/// implementation independent of the streaming one, which the tests hold it to).
pub(crate) fn parse_las(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    check_header(bytes, bytes.len() as u64)?;
    check_evlr(bytes, bytes.len() as u64, |at, out| {
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        let found = bytes.get(at..).and_then(|rest| rest.get(..out.len()));
        out.copy_from_slice(found.ok_or(std::io::ErrorKind::UnexpectedEof)?);
        Ok(())
    })?;
    let mut reader = las::Reader::new(Cursor::new(bytes.to_vec())).map_err(fail)?;
    let header = reader.header().clone();
    let total = point_count(&header, bytes.len() as u64)?;
    let format = *header.point_format();
    let facts = header_facts(&header);
    let mut raw = RawMesh {
        format: facts.format,
        dropped: facts.dropped,
        metadata: facts.metadata,
        declared_unit: facts.declared_unit,
        ..RawMesh::default()
    };
    let mut colors16: Vec<[u16; 3]> = Vec::new();
    let mut intensity = Vec::with_capacity(total.min(BATCH) as usize);
    let mut read = 0;
    while read < total {
        let batch = reader.read_points(BATCH.min(total - read)).map_err(fail)?;
        if batch.is_empty() {
            return Err(ParseError::byte(
                bytes.len() as u64,
                format!("the data ends after {read} of {total} points"),
            ));
        }
        for point in batch.points() {
            let point = point.map_err(fail)?;
            raw.positions.push([point.x, point.y, point.z]);
            intensity.push(f32::from(point.intensity));
            if let Some(c) = point.color {
                colors16.push([c.red, c.green, c.blue]);
            }
        }
        read += batch.len() as u64;
    }
    raw.intensity = Some(intensity);
    if format.has_color && colors16.len() == raw.positions.len() {
        // Some writers store 8-bit values in the 16-bit fields: scale only when the file uses the range.
        let eight_bit = colors16.iter().all(|c| c.iter().all(|&v| v <= 255));
        raw.colors_srgb = Some(
            colors16
                .iter()
                .map(|c| {
                    let to8 = |v: u16| {
                        if eight_bit {
                            v as u8
                        } else {
                            (f64::from(v) / 257.0).round() as u8
                        }
                    };
                    [to8(c[0]), to8(c[1]), to8(c[2]), 255]
                })
                .collect(),
        );
        raw.metadata.insert(0, colour_depth(eight_bit));
    }
    Ok(raw)
}

fn header_facts(header: &las::Header) -> HeaderFacts {
    let format = header.point_format();
    let version = header.version();
    let mut facts = HeaderFacts {
        format: format!(
            "{}-{}.{}",
            if format.is_compressed { "laz" } else { "las" },
            version.major,
            version.minor
        ),
        dropped: Vec::new(),
        metadata: Vec::new(),
        declared_unit: None,
    };
    facts
        .dropped
        .push("classification, return numbers, scan angle, flags and point source id".into());
    if format.has_gps_time {
        facts.dropped.push("GPS time".into());
    }
    if format.extra_bytes > 0 {
        facts
            .dropped
            .push(format!("{} extra bytes per point", format.extra_bytes));
    }
    let metadata = &mut facts.metadata;
    metadata.push((
        "point format".into(),
        format
            .to_u8()
            .map_or_else(|_| "unknown".into(), |n| n.to_string()),
    ));
    metadata.push((
        "system identifier".into(),
        header.system_identifier().trim().to_owned(),
    ));
    metadata.push((
        "generating software".into(),
        header.generating_software().trim().to_owned(),
    ));
    if let Some(date) = header.date() {
        metadata.push(("file creation date".into(), date.to_string()));
    }
    for vlr in header.all_vlrs() {
        match (vlr.user_id.as_str(), vlr.record_id) {
            ("LASF_Projection", 2112) => {
                let wkt = String::from_utf8_lossy(&vlr.data)
                    .trim_end_matches('\0')
                    .to_owned();
                facts.declared_unit = facts.declared_unit.or_else(|| unit_from_wkt(&wkt));
                metadata.push(("coordinate system (WKT)".into(), wkt));
            }
            ("LASF_Projection", 34735) => {
                let keys: Vec<u16> = vlr
                    .data
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect();
                metadata.push((
                    "coordinate system (GeoTIFF keys)".into(),
                    describe_geokeys(&keys),
                ));
                facts.declared_unit = facts.declared_unit.or_else(|| unit_from_geokeys(&keys));
            }
            ("copc", 1) => metadata.push((
                "COPC".into(),
                "cloud-optimized point cloud (hierarchy not needed to read all points)".into(),
            )),
            _ => {}
        }
    }
    facts
}

/// The header's sizes, checked before the `las` crate sees them: it multiplies the point count by the
/// record length without checking for overflow (found by fuzzing; see tests/data/fuzz-regressions).
fn check_header(bytes: &[u8], file_length: u64) -> Result<(), ParseError> {
    if bytes.len() < 227 || !bytes.starts_with(b"LASF") {
        return Err(ParseError::byte(
            0,
            "not a LAS file: shorter than a header or no LASF signature",
        ));
    }
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([bytes[o], bytes[o + 1]]));
    let u32_at = |o: usize| {
        u64::from(u32::from_le_bytes([
            bytes[o],
            bytes[o + 1],
            bytes[o + 2],
            bytes[o + 3],
        ]))
    };
    let minor = bytes[25];
    let offset_to_points = u32_at(96);
    let record = u16_at(105);
    let mut count = u32_at(107);
    // The crate reads the LAS 1.4 count whenever the minor version says 1.4, whatever the header size says.
    if minor >= 4 && bytes.len() >= 255 {
        let wide = u64::from_le_bytes(bytes[247..255].try_into().unwrap_or([0; 8]));
        count = count.max(wide);
    }
    let compressed = bytes[104] & 0x80 != 0;
    let too_big = || {
        ParseError::byte(
            107,
            format!(
                "the header declares {count} points of {record} bytes from byte {offset_to_points}, more than a {file_length} byte file holds"
            ),
        )
    };
    let data = count.checked_mul(record).ok_or_else(too_big)?;
    let fits = if compressed {
        data <= file_length.saturating_mul(MAX_LAZ_EXPANSION)
    } else {
        data.checked_add(offset_to_points)
            .is_some_and(|end| end <= file_length)
    };
    if fits { Ok(()) } else { Err(too_big()) }
}

/// LAS 1.4's extended VLR: the `las` crate reads the first one and reserves its declared length (a u64)
/// before reading it, so a length the file cannot hold is refused here first (found by fuzzing).
/// `read_at` reads bytes at an offset of the file.
fn check_evlr(
    head: &[u8],
    file_length: u64,
    mut read_at: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> Result<(), ParseError> {
    let (Some(&minor), Some(fields)) = (head.get(25), head.get(235..247)) else {
        return Ok(());
    };
    let start = u64::from_le_bytes(fields[..8].try_into().unwrap_or([0; 8]));
    let count = u32::from_le_bytes(fields[8..].try_into().unwrap_or([0; 4]));
    if minor < 4 || start == 0 || count == 0 {
        return Ok(());
    }
    let beyond = |what: String| ParseError::byte(235, what);
    let header_end = start.checked_add(60).filter(|&end| end <= file_length);
    let Some(header_end) = header_end else {
        return Err(beyond(format!(
            "the first extended VLR starts at byte {start}, past the end of the {file_length} byte file"
        )));
    };
    let mut length = [0u8; 8];
    read_at(start + 20, &mut length)
        .map_err(|e| ParseError::byte(start, format!("cannot read the extended VLR: {e}")))?;
    let length = u64::from_le_bytes(length);
    if header_end
        .checked_add(length)
        .is_none_or(|end| end > file_length)
    {
        return Err(ParseError::byte(
            start + 20,
            format!(
                "the extended VLR declares {length} bytes, more than the {file_length} byte file holds"
            ),
        ));
    }
    Ok(())
}

/// The linear unit of a WKT coordinate system, when it is a foot.
fn unit_from_wkt(wkt: &str) -> Option<Unit> {
    let lower = wkt.to_ascii_lowercase();
    // The projected system's unit is the last UNIT before the AXIS or the end.
    let unit = lower.rsplit("unit[").next()?;
    if unit.contains("us survey foot")
        || unit.contains("foot_us")
        || unit.contains("us_survey_foot")
    {
        Some(Unit::UsSurveyFoot)
    } else if unit.contains("foot") || unit.contains("feet") {
        Some(Unit::Foot)
    } else {
        None
    }
}

/// GeoTIFF `ProjLinearUnitsGeoKey` (3076): 9001 metre, 9002 foot, 9003 US survey foot. Without it,
/// `VerticalUnitsGeoKey` (4099) is taken: files that give only a projected system's EPSG code (whose unit
/// this reader does not look up) usually share the unit between horizontal and vertical; the metadata
/// shows the keys so a reader can check.
fn unit_from_geokeys(keys: &[u16]) -> Option<Unit> {
    let value = |key: u16| {
        keys.get(4..)?
            .chunks_exact(4)
            .find(|k| k[0] == key)
            .map(|k| k[3])
    };
    match value(3076).or_else(|| value(4099))? {
        9002 => Some(Unit::Foot),
        9003 => Some(Unit::UsSurveyFoot),
        _ => None,
    }
}

fn describe_geokeys(keys: &[u16]) -> String {
    let entries: Vec<String> = keys
        .get(4..)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|k| format!("{}={}", k[0], k[3]))
        .collect();
    entries.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feet_are_recognized_in_wkt_and_geokeys() {
        assert_eq!(
            unit_from_wkt(r#"PROJCS["x",UNIT["US survey foot",0.3048006096]]"#),
            Some(Unit::UsSurveyFoot)
        );
        assert_eq!(unit_from_wkt(r#"PROJCS["x",UNIT["metre",1]]"#), None);
        assert_eq!(
            unit_from_geokeys(&[1, 1, 0, 1, 3076, 0, 1, 9002]),
            Some(Unit::Foot)
        );
        assert_eq!(
            unit_from_geokeys(&[1, 1, 0, 2, 3072, 0, 1, 2229, 4099, 0, 1, 9003]),
            Some(Unit::UsSurveyFoot)
        );
        assert_eq!(
            unit_from_geokeys(&[1, 1, 0, 2, 3076, 0, 1, 9001, 4099, 0, 1, 9003]),
            None
        );
    }

    #[test]
    fn reject_garbage() {
        assert!(parse_las(b"LASF\0\0\0\0").is_err());
        assert!(parse_las(&[0u8; 400]).is_err());
    }
}
