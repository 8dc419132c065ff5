//! Binary PLY and PCD point files stream (read in chunks, hashed and decoded in one pass); everything
//! else is read whole. The two paths must agree exactly: same points, same attributes, same hash, same
//! record of what was dropped, whatever the chunk boundaries and however the source delivers its bytes.

use std::io::Read;
use std::path::Path;

use ingest::{Geometry, ReadOptions, ScanFormat, ScanInput};

use crate::support::data;

/// A source that hands out at most `step` bytes per read, so chunk boundaries fall everywhere.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(out.len()).min(self.bytes.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn streamed(bytes: &[u8], name: &str, step: usize) -> ScanInput {
    let source = Trickle { bytes, step };
    ingest::read_scan_from(source, bytes.len() as u64, name.as_ref(), &ReadOptions::default())
        .unwrap()
}

/// The in-memory reader's cloud for the same bytes.
fn whole(bytes: &[u8], name: &str) -> ingest::raw::Converted<codec::PointCloud> {
    let format = ScanFormat::detect(name.as_ref(), bytes).unwrap();
    let raw = ingest::parse_scan(format, bytes, Path::new(name)).unwrap();
    ingest::raw::to_cloud(raw, ingest::Unit::Metre)
}

fn check_same(bytes: &[u8], name: &str) -> ScanInput {
    let reference = whole(bytes, name);
    let mut first = None;
    for step in [usize::MAX, 4 << 20, 65_537, 4093] {
        let scan = streamed(bytes, name, step);
        let Geometry::Points(cloud) = &scan.geometry else {
            panic!("{name}: not read as points");
        };
        assert_eq!(cloud, &reference.geometry, "{name}, reads of {step} bytes");
        assert_eq!(
            scan.input.sha256,
            codec::manifest::sha256_hex(bytes),
            "{name}: hash"
        );
        assert_eq!(scan.input.bytes, bytes.len() as u64);
        let result = &scan.step.result;
        assert_eq!(
            result["non_finite_dropped"],
            reference.non_finite_dropped,
            "{name}"
        );
        assert_eq!(
            result["max_f32_rounding_mm"],
            reference.max_rounding_m * 1e3,
            "{name}"
        );
        if let Some(first) = &first {
            let first: &ScanInput = first;
            assert_eq!(first.step.result, scan.step.result, "{name}: step record");
            assert_eq!(first.notes, scan.notes, "{name}: notes");
        } else {
            first = Some(scan);
        }
    }
    first.unwrap()
}

/// A binary PLY point file with the given properties (type, name) and one record per point, made by `value`.
fn ply(
    big_endian: bool,
    properties: &[(&str, &str)],
    points: usize,
    value: impl Fn(usize, &str) -> f64,
    trailing: &[u8],
) -> Vec<u8> {
    let mut out = format!(
        "ply\nformat binary_{}_endian 1.0\ncomment made by exhibit's streaming test\nelement vertex {points}\n",
        if big_endian { "big" } else { "little" }
    );
    for (kind, name) in properties {
        out.push_str(&format!("property {kind} {name}\n"));
    }
    out.push_str("end_header\n");
    let mut bytes = out.into_bytes();
    for i in 0..points {
        for (kind, name) in properties {
            let v = value(i, name);
            macro_rules! put {
                ($t:ty) => {{
                    let v = v as $t;
                    bytes.extend(if big_endian {
                        v.to_be_bytes().to_vec()
                    } else {
                        v.to_le_bytes().to_vec()
                    })
                }};
            }
            match *kind {
                "float" => put!(f32),
                "double" => put!(f64),
                "uchar" => put!(u8),
                "char" => put!(i8),
                "short" => put!(i16),
                "ushort" => put!(u16),
                "int" => put!(i32),
                "uint" => put!(u32),
                other => panic!("{other}"),
            }
        }
    }
    bytes.extend_from_slice(trailing);
    bytes
}

fn wave(i: usize, name: &str) -> f64 {
    let t = i as f64;
    match name {
        "x" => 12.25 + (t * 0.001).sin() * 3.0,
        "y" => -4.0 + (t * 0.0007).cos() * 2.0,
        "z" if i % 1013 == 7 => f64::NAN,
        "z" => 0.5 + t * 1e-6,
        "nx" => (t * 0.01).sin(),
        "ny" => (t * 0.01).cos(),
        "nz" => 0.25,
        "red" | "green" | "blue" | "alpha" => (i * 37 % 256) as f64,
        "intensity" => (i % 4000) as f64 * 0.5,
        _ => (i % 100) as f64,
    }
}

#[test]
fn streamed_ply_matches_the_whole_file_reader_for_every_layout() {
    let floats: &[(&str, &str)] = &[
        ("float", "x"),
        ("float", "y"),
        ("float", "z"),
        ("float", "nx"),
        ("float", "ny"),
        ("float", "nz"),
        ("uchar", "red"),
        ("uchar", "green"),
        ("uchar", "blue"),
    ];
    let mixed: &[(&str, &str)] = &[
        ("double", "x"),
        ("float", "y"),
        ("int", "z"),
        ("short", "confidence"),
        ("ushort", "red"),
        ("ushort", "green"),
        ("ushort", "blue"),
        ("float", "intensity"),
        ("double", "nx"),
        ("float", "ny"),
        ("float", "nz"),
    ];
    let float_colors: &[(&str, &str)] = &[
        ("double", "x"),
        ("double", "y"),
        ("double", "z"),
        ("float", "red"),
        ("float", "green"),
        ("float", "blue"),
        ("float", "alpha"),
        ("uchar", "intensity"),
    ];
    // 300,000 records of 27 bytes make about 8 MB: several chunks, and records cut by every boundary.
    for (properties, points) in [(floats, 300_000), (mixed, 70_000), (float_colors, 5)] {
        for big_endian in [false, true] {
            let colour_scale = |i: usize, name: &str| match name {
                "red" | "green" | "blue" | "alpha"
                    if properties.contains(&("float", "red")) =>
                {
                    wave(i, name) / 255.0
                }
                _ => wave(i, name),
            };
            let bytes = ply(big_endian, properties, points, colour_scale, b"trailing bytes");
            let name = format!("cloud-{}-{points}.ply", u8::from(big_endian));
            let scan = check_same(&bytes, &name);
            assert_eq!(
                scan.input.format,
                if big_endian { "ply-binary-be" } else { "ply-binary-le" }
            );
            // An integer z cannot hold the NaN the generator asks for.
            let z_is_float = properties.iter().any(|&(kind, name)| name == "z" && kind != "int");
            let nan = if z_is_float {
                (0..points).filter(|i| i % 1013 == 7).count() as u64
            } else {
                0
            };
            assert_eq!(scan.step.result["non_finite_dropped"], nan, "{name}");
        }
    }
}

#[test]
fn streamed_pcd_matches_the_whole_file_reader() {
    let bytes = std::fs::read(data("pcd/cloud_bin_0.pcd")).unwrap();
    let scan = check_same(&bytes, "cloud_bin_0.pcd");
    assert_eq!(scan.input.format, "pcd-binary");
    assert_eq!(
        scan.geometry.attributes(),
        ["POSITION", "NORMAL", "COLOR_0"]
    );
}

#[test]
fn a_truncated_stream_names_the_byte_where_it_ends() {
    let bytes = ply(false, &[("float", "x"), ("float", "y"), ("float", "z")], 1000, wave, b"");
    let cut = &bytes[..bytes.len() - 5];
    // The source ends early although its length said more (a file shrinking while it is read).
    let error = ingest::read_scan_from(
        Trickle {
            bytes: cut,
            step: 100,
        },
        bytes.len() as u64,
        "cut.ply".as_ref(),
        &ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("file ends inside the data: 999 of 1000 vertex records")
            && error.contains(&format!("at byte {}", cut.len()))
            && error.contains("cut.ply"),
        "{error}"
    );
    // A header that claims more records than the file can hold is refused before anything is allocated.
    let error = ingest::read_scan_from(cut, cut.len() as u64, "cut.ply".as_ref(), &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("1000 vertex records of 12 bytes do not fit"), "{error}");
}
