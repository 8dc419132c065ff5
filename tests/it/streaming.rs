//! Binary PLY and PCD point files stream (read in chunks, hashed and decoded in one pass); everything
//! else is read whole. The two paths must agree exactly: same points, same attributes, same hash, same
//! record of what was dropped, whatever the chunk boundaries and however the source delivers its bytes.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use ingest::{Geometry, ReadOptions, ScanFormat, ScanInput};

use crate::support::data;

/// A source that hands out at most `step` bytes per read, so chunk boundaries fall everywhere.
struct Trickle {
    bytes: std::io::Cursor<Vec<u8>>,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(out.len());
        self.bytes.read(&mut out[..n])
    }
}

impl std::io::Seek for Trickle {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.bytes.seek(to)
    }
}

fn trickle(bytes: &[u8], step: usize) -> Trickle {
    Trickle {
        bytes: std::io::Cursor::new(bytes.to_vec()),
        step,
    }
}

fn streamed(bytes: &[u8], name: &str, step: usize) -> ScanInput {
    let source = trickle(bytes, step);
    ingest::read_scan_from(
        source,
        bytes.len() as u64,
        name.as_ref(),
        &ReadOptions::default(),
    )
    .unwrap()
}

/// The in-memory reader's cloud for the same bytes.
fn whole(bytes: &[u8], name: &str) -> ingest::raw::Converted<codec::PointCloud> {
    let format = ScanFormat::detect(name.as_ref(), bytes).unwrap();
    let raw = ingest::parse_scan(format, bytes, Path::new(name)).unwrap();
    let unit = raw.declared_unit.unwrap_or(ingest::Unit::Metre);
    ingest::raw::to_cloud(raw, unit)
}

/// Equal clouds, or a failure that names the first difference (not a dump of millions of points).
fn assert_same_cloud(a: &codec::PointCloud, b: &codec::PointCloud, label: &str) {
    assert_eq!(a.origin_m, b.origin_m, "{label}: origin");
    assert_eq!(a.positions.len(), b.positions.len(), "{label}: points");
    let first = |x: &[[f32; 3]], y: &[[f32; 3]]| x.iter().zip(y).position(|(p, q)| p != q);
    if let Some(i) = first(&a.positions, &b.positions) {
        panic!(
            "{label}: position {i}: {:?} != {:?}",
            a.positions[i], b.positions[i]
        );
    }
    assert!(a.normals == b.normals, "{label}: normals differ");
    assert!(a.colors_srgb == b.colors_srgb, "{label}: colours differ");
    assert!(a.intensity == b.intensity, "{label}: intensity differs");
}

fn check_same(bytes: &[u8], name: &str) -> ScanInput {
    let reference = whole(bytes, name);
    let raw = ingest::parse_scan(
        ScanFormat::detect(name.as_ref(), bytes).unwrap(),
        bytes,
        name.as_ref(),
    )
    .unwrap();
    let mut first = None;
    for step in [usize::MAX, 4 << 20, 65_537, 4093] {
        let scan = streamed(bytes, name, step);
        let Geometry::Points(cloud) = &scan.geometry else {
            panic!("{name}: not read as points");
        };
        assert_same_cloud(
            cloud,
            &reference.geometry,
            &format!("{name}, reads of {step} bytes"),
        );
        assert_eq!(
            scan.input.sha256,
            codec::manifest::sha256_hex(bytes),
            "{name}: hash"
        );
        assert_eq!(scan.input.bytes, bytes.len() as u64);
        let result = &scan.step.result;
        assert_eq!(
            result["non_finite_dropped"], reference.non_finite_dropped,
            "{name}"
        );
        assert_eq!(
            result["max_f32_rounding_mm"],
            reference.max_rounding_m * 1e3,
            "{name}"
        );
        assert_eq!(scan.metadata, raw.metadata, "{name}: metadata");
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
        writeln!(out, "property {kind} {name}").unwrap();
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
                "red" | "green" | "blue" | "alpha" if properties.contains(&("float", "red")) => {
                    wave(i, name) / 255.0
                }
                _ => wave(i, name),
            };
            let bytes = ply(
                big_endian,
                properties,
                points,
                colour_scale,
                b"trailing bytes",
            );
            let name = format!("cloud-{}-{points}.ply", u8::from(big_endian));
            let scan = check_same(&bytes, &name);
            assert_eq!(
                scan.input.format,
                if big_endian {
                    "ply-binary-be"
                } else {
                    "ply-binary-le"
                }
            );
            // An integer z cannot hold the NaN the generator asks for.
            let z_is_float = properties
                .iter()
                .any(|&(kind, name)| name == "z" && kind != "int");
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
    let bytes = ply(
        false,
        &[("float", "x"), ("float", "y"), ("float", "z")],
        1000,
        wave,
        b"",
    );
    let cut = &bytes[..bytes.len() - 5];
    // The source ends early although its length said more (a file shrinking while it is read).
    let error = ingest::read_scan_from(
        trickle(cut, 100),
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
    let error = ingest::read_scan_from(
        trickle(cut, usize::MAX),
        cut.len() as u64,
        "cut.ply".as_ref(),
        &ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("1000 vertex records of 12 bytes do not fit"),
        "{error}"
    );
}

#[test]
fn streamed_las_and_laz_match_the_point_by_point_reader() {
    for entry in std::fs::read_dir(data("las")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["las", "laz"].contains(&extension.to_ascii_lowercase().as_str()) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let scan = check_same(&bytes, &name);
        assert!(scan.input.format.starts_with("la"), "{name}");
    }
}

/// A PLY file of `count` records made on the fly (never held in memory): x y z as floats, then
/// `padding` unknown double properties, so that a few million points make a file over 4 GiB.
struct Generated {
    header: Vec<u8>,
    count: u64,
    stride: u64,
    position: u64,
}

impl Generated {
    fn new(count: u64, padding: usize) -> Self {
        let mut header = format!(
            "ply\nformat binary_little_endian 1.0\nelement vertex {count}\nproperty float x\nproperty float y\nproperty float z\n"
        );
        for i in 0..padding {
            writeln!(header, "property double pad{i}").unwrap();
        }
        header.push_str("end_header\n");
        Self {
            header: header.into_bytes(),
            count,
            stride: 12 + 8 * padding as u64,
            position: 0,
        }
    }

    fn len(&self) -> u64 {
        self.header.len() as u64 + self.count * self.stride
    }

    fn point(i: u64) -> [f32; 3] {
        [
            (i % 1000) as f32 * 0.001,
            (i / 1000 % 1000) as f32 * 0.001,
            (i / 1_000_000) as f32 * 0.001,
        ]
    }
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        // Copied a record at a time (this test binary is not optimized; a byte loop would take minutes).
        let n = (out.len() as u64).min(self.len() - self.position) as usize;
        let header = self.header.len() as u64;
        let mut record = vec![0u8; self.stride as usize];
        let mut done = 0;
        while done < n {
            let at = self.position + done as u64;
            let (source, from): (&[u8], u64) = if at < header {
                (&self.header, at)
            } else {
                let index = (at - header) / self.stride;
                let xyz = Self::point(index);
                for (k, c) in xyz.iter().enumerate() {
                    record[4 * k..4 * k + 4].copy_from_slice(&c.to_le_bytes());
                }
                (&record, (at - header) % self.stride)
            };
            let take = (source.len() - from as usize).min(n - done);
            out[done..done + take].copy_from_slice(&source[from as usize..from as usize + take]);
            done += take;
        }
        self.position += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Generated {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let std::io::SeekFrom::Start(at) = to else {
            return Err(std::io::Error::other(
                "the generated file seeks from its start only",
            ));
        };
        self.position = at;
        Ok(at)
    }
}

#[test]
fn a_ply_file_over_4_gib_streams_in_bounded_memory() {
    // 17.5 million records of 252 bytes: 4.4 GB, past every 32-bit offset; 210 MB of positions kept.
    let count = 17_500_000;
    let source = Generated::new(count, 30);
    let length = source.len();
    assert!(length > 1 << 32);
    let scan = ingest::read_scan_from(source, length, "big.ply".as_ref(), &ReadOptions::default())
        .unwrap();
    assert_eq!(scan.input.bytes, length);
    let Geometry::Points(cloud) = &scan.geometry else {
        panic!("not points");
    };
    assert_eq!(cloud.positions.len() as u64, count);
    for i in [0, 1_234_567, count - 1] {
        assert_eq!(
            cloud.positions[i as usize],
            Generated::point(i),
            "point {i}"
        );
    }
    assert_eq!(
        scan.notes,
        vec![format!("not kept: vertex property pad0")]
            .into_iter()
            .chain((1..30).map(|i| format!("not kept: vertex property pad{i}")))
            .collect::<Vec<_>>()
    );
    // The same file cut short past 4 GiB: the error names the byte, a 64-bit offset.
    let mut short = Generated::new(count, 30);
    short.count = count - 1000;
    let declared = Generated::new(count, 30).len();
    let short_len = short.len();
    let error =
        ingest::read_scan_from(short, declared, "big.ply".as_ref(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
    assert!(error.contains(&format!("at byte {short_len}")), "{error}");
}
