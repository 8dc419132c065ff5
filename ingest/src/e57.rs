//! E57 (ASTM E2807) through the `e57` crate: every scan of the file, each moved into the file's frame by
//! its pose, concatenated; cartesian or spherical coordinates; intensity in the scanner's scale; colour.
//! Page checksums are verified as pages are read, and a corrupt page is an error naming the file.
//! Scanner metadata (vendor, model, serial, firmware, capture time, pose) goes into the metadata.
//! The file's images (`images2D`) are listed with their kind, size, pose and SHA-256 (the read step records them,
//! `info` shows them); they are not used to colour the points.

use std::io::Cursor;

use crate::error::ParseError;
use crate::raw::RawMesh;

/// Parse a whole E57 file.
pub(crate) fn parse_e57(bytes: &[u8]) -> Result<RawMesh, ParseError> {
    let fail = |e: e57::Error| ParseError::byte(0, format!("E57: {e}"));
    let mut reader = e57::E57Reader::new(Cursor::new(bytes)).map_err(fail)?;
    let mut raw = RawMesh {
        format: "e57".into(),
        ..RawMesh::default()
    };
    raw.embedded_images = embedded_images(&mut reader, bytes.len() as u64)?;
    if !raw.embedded_images.is_empty() {
        raw.dropped.push(format!(
            "{} image(s) (images2D): listed and hashed in the read step, not used to colour the points",
            raw.embedded_images.len()
        ));
    }
    let scans = reader.pointclouds();
    let total: u64 = scans.iter().map(|s| s.records).sum();
    // Every record takes at least a bit in the file: a count the file cannot hold is refused.
    if total > bytes.len() as u64 * 8 {
        return Err(ParseError::byte(
            0,
            format!(
                "the scans declare {total} points, more than {} bytes can hold",
                bytes.len()
            ),
        ));
    }
    if let Some(coordinates) = reader.coordinate_metadata() {
        raw.metadata
            .push(("coordinate system".into(), coordinates.to_owned()));
    }
    let (mut any_color, mut any_intensity) = (false, false);
    for (number, scan) in scans.iter().enumerate() {
        let label = scan
            .name
            .clone()
            .unwrap_or_else(|| format!("scan {number}"));
        describe_scan(&mut raw.metadata, &label, scan);
        any_color |= scan.has_color();
        any_intensity |= scan.has_intensity();
    }
    // Scans are independent binary sections: each is read by its own reader over the same bytes, in
    // parallel, and concatenated in file order.
    let per_scan: Vec<ScanPoints> = {
        use rayon::prelude::*;
        scans
            .par_iter()
            .map(|scan| read_points(bytes, scan))
            .collect::<Result<_, _>>()
            .map_err(fail)?
    };
    let total_kept: usize = per_scan.iter().map(|s| s.positions.len()).sum();
    raw.positions.reserve_exact(total_kept);
    let mut colors = Vec::with_capacity(if any_color { total_kept } else { 0 });
    let mut intensity = Vec::with_capacity(if any_intensity { total_kept } else { 0 });
    let mut invalid = 0;
    for scan in per_scan {
        raw.positions.extend(scan.positions);
        if any_color {
            colors.extend(scan.colors);
        }
        if any_intensity {
            intensity.extend(scan.intensity);
        }
        invalid += scan.invalid;
    }
    if invalid > 0 {
        raw.dropped.push(format!(
            "{invalid} points without a valid position (direction only or invalid)"
        ));
    }
    raw.colors_srgb = any_color.then_some(colors);
    raw.intensity = any_intensity.then_some(intensity);
    raw.dropped
        .push("row and column indices, time stamps and return numbers".into());
    Ok(raw)
}

/// Every image of the file: its blob read (within the file's length), hashed, its header checked.
fn embedded_images(
    reader: &mut e57::E57Reader<Cursor<&[u8]>>,
    file_len: u64,
) -> Result<Vec<crate::raw::EmbeddedImage>, ParseError> {
    let mut out = Vec::new();
    for (number, image) in reader.images().into_iter().enumerate() {
        let name = image
            .name
            .clone()
            .unwrap_or_else(|| format!("image {number}"));
        let (kind, blob) = match (&image.projection, &image.visual_reference) {
            (Some(e57::Projection::Pinhole(p)), _) => ("pinhole", &p.blob),
            (Some(e57::Projection::Spherical(p)), _) => ("spherical", &p.blob),
            (Some(e57::Projection::Cylindrical(p)), _) => ("cylindrical", &p.blob),
            (None, Some(v)) => ("visual reference", &v.blob),
            (None, None) => continue,
        };
        if blob.data.length > file_len {
            return Err(ParseError::byte(
                blob.data.offset,
                format!(
                    "{name:?} declares {} bytes, more than the file holds",
                    blob.data.length
                ),
            ));
        }
        let mut bytes = Vec::new();
        reader
            .blob(&blob.data, &mut bytes)
            .map_err(|e| ParseError::byte(blob.data.offset, format!("E57 image {name:?}: {e}")))?;
        let (mime_type, size) = match codec::texture::probe(&bytes) {
            Ok((format, width, height)) => (format.mime_type().to_owned(), [width, height]),
            Err(why) => (format!("unreadable: {why}"), [0, 0]),
        };
        let pose = image.transform.as_ref().map(pose_numbers);
        out.push(crate::raw::EmbeddedImage {
            name,
            kind: kind.into(),
            mime_type,
            size,
            bytes: bytes.len() as u64,
            sha256: codec::manifest::sha256_hex(&bytes),
            pose,
            scan: image.pointcloud_guid.clone(),
        });
    }
    Ok(out)
}

/// One scan's points as read, in the file's frame (the crate applies the scan's pose).
struct ScanPoints {
    positions: Vec<[f64; 3]>,
    colors: Vec<[u8; 4]>,
    intensity: Vec<f32>,
    /// Points without a valid cartesian position.
    invalid: u64,
}

fn read_points(bytes: &[u8], scan: &e57::PointCloud) -> Result<ScanPoints, e57::Error> {
    let mut reader = e57::E57Reader::new(Cursor::new(bytes))?;
    let mut points = reader.pointcloud_simple(scan)?;
    // Colours are only what the scanner measured, never intensity painted as colour; intensity stays
    // in the scanner's own scale like every other format's.
    points.intensity_to_color(false);
    points.normalize_intensity(false);
    let capacity = usize::try_from(scan.records).unwrap_or(0).min(bytes.len());
    let mut out = ScanPoints {
        positions: Vec::with_capacity(capacity),
        colors: Vec::with_capacity(if scan.has_color() { capacity } else { 0 }),
        intensity: Vec::with_capacity(if scan.has_intensity() { capacity } else { 0 }),
        invalid: 0,
    };
    for point in points {
        let point = point?;
        let e57::CartesianCoordinate::Valid { x, y, z } = point.cartesian else {
            out.invalid += 1;
            continue;
        };
        out.positions.push([x, y, z]);
        // A scan without colour in a file where another has it shows white; without intensity, zero.
        out.colors.push(point.color.map_or([255; 4], |c| {
            let [r, g, b] = [c.red, c.green, c.blue]
                .map(|v| (f64::from(v) * 255.0).round().clamp(0.0, 255.0) as u8);
            [r, g, b, 255]
        }));
        out.intensity.push(point.intensity.unwrap_or(0.0));
    }
    Ok(out)
}

fn describe_scan(metadata: &mut Vec<(String, String)>, label: &str, scan: &e57::PointCloud) {
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            metadata.push((format!("{label}: {key}"), value));
        }
    };
    put("points", Some(scan.records.to_string()));
    put("sensor vendor", scan.sensor_vendor.clone());
    put("sensor model", scan.sensor_model.clone());
    put("sensor serial", scan.sensor_serial.clone());
    put("sensor firmware", scan.sensor_fw_version.clone());
    put("sensor hardware", scan.sensor_hw_version.clone());
    put(
        "acquisition start (GPS seconds)",
        scan.acquisition_start
            .as_ref()
            .map(|t| t.gps_time.to_string()),
    );
    put(
        "pose (tx ty tz qw qx qy qz, applied)",
        scan.transform
            .as_ref()
            .map(|t| pose_numbers(t).map(|v| v.to_string()).join(" ")),
    );
}

/// A pose as seven numbers: translation (x y z, metres), then the rotation quaternion (w x y z).
fn pose_numbers(t: &e57::Transform) -> [f64; 7] {
    [
        t.translation.x,
        t.translation.y,
        t.translation.z,
        t.rotation.w,
        t.rotation.x,
        t.rotation.y,
        t.rotation.z,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_garbage_and_truncation() {
        assert!(parse_e57(b"ASTM-E57").is_err());
        assert!(parse_e57(&[0u8; 2048]).is_err());
    }
}
