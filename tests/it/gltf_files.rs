//! Reading glTF: every Khronos sample loads, every malformed container is refused cleanly, every
//! earlier format version still decodes, and lies about sizes cost an error, not memory.

use std::path::{Path, PathBuf};

use crate::support::data;

fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path, extensions));
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_khronos_sample_loads() {
    let samples = files_under(&data("gltf/khronos_samples"), &["glb", "gltf"]);
    assert!(samples.len() >= 13, "{} samples", samples.len());
    for path in samples {
        let model = codec::read_model(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            model.mesh.triangle_count() > 0,
            "{} has no triangles",
            path.display()
        );
        model
            .mesh
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn box_sample_has_the_documented_geometry() {
    let model = codec::read_model(&data("gltf/khronos_samples/Box/Box.glb")).unwrap();
    assert_eq!(model.mesh.triangle_count(), 12);
    let (min, max) = model.mesh.bounds_m().unwrap();
    for axis in 0..3 {
        assert!(
            (max[axis] - min[axis] - 1.0).abs() < 1e-6,
            "the Box is a unit cube: {min:?} {max:?}"
        );
    }
    // The embedded .gltf is the same model.
    let embedded = codec::read_model(&data("gltf/khronos_samples/Box/Box.gltf")).unwrap();
    assert_eq!(embedded.mesh.positions, model.mesh.positions);
}

#[test]
fn primitive_modes_become_triangles_points_or_a_note() {
    for path in files_under(&data("gltf/asset_generator/Mesh_PrimitiveMode"), &["gltf"]) {
        let model = codec::read_model(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kept = model.mesh.triangle_count() + model.points.positions.len();
        assert!(
            kept > 0 || model.notes.iter().any(|n| n.contains("line primitive")),
            "{}: nothing read, nothing said",
            path.display()
        );
    }
}

#[test]
fn validator_edge_cases_are_refused_or_read_as_the_validator_says() {
    let cases = files_under(&data("gltf/validator_edge_cases/glb"), &["glb"]);
    assert!(cases.len() >= 28);
    for path in cases {
        let report_path = PathBuf::from(format!("{}.report.json", path.display()));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
        let errors = report["issues"]["numErrors"].as_u64().unwrap();
        let result = codec::read_model(&path);
        match (errors, result) {
            (0, Err(e)) => panic!("{} is valid but was refused: {e}", path.display()),
            (1.., Ok(_)) => panic!(
                "{} has {errors} validator errors but was read",
                path.display()
            ),
            (1.., Err(e)) => {
                let message = e.to_string();
                assert!(
                    message.contains(path.file_name().unwrap().to_str().unwrap()),
                    "error does not name the file: {message}"
                );
            }
            (0, Ok(_)) => {}
        }
    }
}

#[test]
fn format_v1_files_still_decode() {
    for (name, triangles, attributes) in [
        ("bun_zipper_res4", 948, vec!["POSITION"]),
        (
            "frag_115_1mm",
            127_229,
            vec!["COLOR_0", "NORMAL", "POSITION"],
        ),
    ] {
        let path = data(&format!("format-v1/{name}.glb"));
        let model = codec::read_model(&path).unwrap();
        let manifest = model.manifest.as_ref().expect("v1 files carry a manifest");
        assert_eq!(manifest.format_version, 1);
        assert_eq!(model.bin_sha256_matches, Some(true));
        assert_eq!(model.mesh.triangle_count(), triangles);
        assert_eq!(model.attributes, attributes);
        let sidecar: codec::Manifest = serde_json::from_slice(
            &std::fs::read(data(&format!("format-v1/{name}.manifest.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            sidecar.output.unwrap().sha256,
            crate::support::sha256_file(&path)
        );
        // The decoded geometry is within the recorded error of the source: spot-check the bounds.
        let recorded_m = manifest.error_bounds.max_position_error_mm * 1e-3;
        let (min, max) = model.mesh.bounds_m().unwrap();
        for axis in 0..3 {
            assert!((min[axis] - manifest.geometry.bounds_min_m[axis]).abs() <= recorded_m + 1e-9);
            assert!((max[axis] - manifest.geometry.bounds_max_m[axis]).abs() <= recorded_m + 1e-9);
        }
    }
}

#[test]
fn every_truncation_of_a_model_is_refused_without_panic() {
    let bytes = std::fs::read(data("format-v1/bun_zipper_res4.glb")).unwrap();
    for cut in (0..bytes.len()).step_by(7) {
        assert!(
            codec::read_model_bytes(&bytes[..cut], None).is_err(),
            "a model cut at byte {cut} was accepted"
        );
    }
}

/// Rewrite the JSON chunk of a GLB (padding it again) to make lying files.
fn with_json(glb: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let chunks = codec::glb::parse_glb(glb).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(chunks.json).unwrap();
    edit(&mut json);
    codec::glb::write_glb(&json, chunks.bin.unwrap_or_default())
}

#[test]
fn lying_counts_and_offsets_are_refused_in_bounded_memory() {
    let glb = std::fs::read(data("format-v1/bun_zipper_res4.glb")).unwrap();
    let check = |edit: &dyn Fn(&mut serde_json::Value), expect: &str| {
        let bad = with_json(&glb, edit);
        let message = codec::read_model_bytes(&bad, None).unwrap_err().to_string();
        assert!(
            message.contains(expect),
            "expected {expect:?} in {message:?}"
        );
    };
    check(
        &|j| j["accessors"][0]["count"] = 4_000_000_000u64.into(),
        "4000000000 elements",
    );
    check(
        &|j| {
            j["bufferViews"][0]["extensions"]["EXT_meshopt_compression"]["count"] =
                3_000_000_000u64.into();
        },
        "bufferView holds",
    );
    check(
        &|j| {
            j["bufferViews"][0]["byteLength"] = 40_000_000_000u64.into();
            j["bufferViews"][0]["extensions"]["EXT_meshopt_compression"]["count"] =
                5_000_000_000u64.into();
        },
        "compressed bytes",
    );
    check(
        &|j| {
            j["bufferViews"][0]["extensions"]["EXT_meshopt_compression"]["byteOffset"] =
                1_000_000u64.into();
        },
        "outside buffer 0",
    );
    check(
        &|j| j["meshes"][0]["primitives"][0]["indices"] = 99.into(),
        "accessor does not exist",
    );
    check(
        &|j| j["nodes"][0]["children"] = serde_json::json!([0]),
        "appears twice",
    );
    check(
        &|j| j["extensionsRequired"] = serde_json::json!(["KHR_draco_mesh_compression"]),
        "not supported",
    );
    check(&|j| j["asset"]["version"] = "1.0".into(), "not 2.x");
    // Indices pointing past the vertices are caught after decoding.
    check(
        &|j| j["accessors"][0]["count"] = 3.into(),
        "not below the vertex count",
    );
}

#[test]
fn external_buffers_may_not_leave_the_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let gltf = dir.path().join("escape.gltf");
    std::fs::write(
        &gltf,
        r#"{"asset":{"version":"2.0"},"buffers":[{"uri":"../../etc/passwd","byteLength":4}]}"#,
    )
    .unwrap();
    let message = codec::read_model(&gltf).unwrap_err().to_string();
    assert!(
        message.contains("leaves the model's folder") && message.contains("escape.gltf"),
        "{message}"
    );
}

/// Every input a fuzzer once crashed on, named after what it found, must now give an error or a model.
#[test]
fn fuzz_regressions_stay_fixed() {
    let mut checked = 0;
    for (target, format) in [
        ("glb_read", None),
        ("las_parse", Some(ingest::ScanFormat::Las)),
        ("ply_parse", Some(ingest::ScanFormat::Ply)),
        ("obj_parse", Some(ingest::ScanFormat::Obj)),
    ] {
        let dir = data(&format!("fuzz-regressions/{target}"));
        // A target's folder exists once a fuzzer has found something in it.
        if !dir.exists() {
            continue;
        }
        for path in files_under(&dir, &["glb", "ply", "obj", "las", "bin"]) {
            let bytes = std::fs::read(&path).unwrap();
            match format {
                None => drop(codec::read_model_bytes(&bytes, None)),
                Some(format) => {
                    drop(ingest::parse_scan(format, &bytes, &path));
                    // The streaming readers too, as the fuzz targets drive them.
                    let length = bytes.len() as u64;
                    let source = std::io::Cursor::new(bytes);
                    let options = ingest::ReadOptions::default();
                    drop(ingest::read_scan_from(source, length, &path, &options));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "the regression corpus is empty");
}
