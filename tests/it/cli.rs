//! The command-line contract: JSON fields, exit codes, files written, determinism, the demo.

use std::fmt::Write as _;
use std::path::Path;

use crate::support::{assert_valid_gltf, data, exhibit, root, run, run_json, sha256_file};

fn ingest_json(input: &Path, output: &Path, extra: &[&str]) -> serde_json::Value {
    let (input, output) = (input.to_str().unwrap(), output.to_str().unwrap());
    let mut args = vec!["ingest", input, "-o", output, "--json"];
    args.extend_from_slice(extra);
    run_json(&mut exhibit(&args))
}

#[test]
fn ingest_bunny_writes_a_valid_glb_its_manifest_and_the_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("bunny.glb");
    let report = ingest_json(
        &root().join("assets/stanford-bunny/bun_zipper.ply"),
        &glb,
        &[],
    );
    for field in [
        "points_in",
        "points_used",
        "vertices",
        "triangles",
        "bytes",
        "sha256",
        "precision_mm",
        "max_error_mm",
        "seconds",
        "stages",
    ] {
        assert!(
            !report[field].is_null(),
            "ingest --json lacks {field}: {report}"
        );
    }
    assert_eq!(report["points_in"], 35947);
    assert_eq!(report["triangles"], 69451);
    assert!(report["max_error_mm"].as_f64().unwrap() <= 0.05);
    assert_eq!(report["sha256"], sha256_file(&glb));
    assert_eq!(report["bytes"], std::fs::metadata(&glb).unwrap().len());

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bunny.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["output"]["sha256"], report["sha256"]);
    assert_eq!(
        manifest["inputs"][0]["sha256"],
        sha256_file(&root().join("assets/stanford-bunny/bun_zipper.ply"))
    );
    assert_eq!(
        manifest["error_bounds"]["max_position_error_mm"],
        report["max_error_mm"]
    );
    let dropped = manifest["steps"][0]["result"]["dropped"].to_string();
    assert!(
        dropped.contains("confidence") && !dropped.contains("intensity"),
        "dropped properties not recorded, or intensity dropped: {dropped}"
    );
    assert!(
        manifest["geometry"]["attributes"]
            .to_string()
            .contains("_INTENSITY"),
        "the scan's intensity is kept per vertex: {manifest}"
    );

    let info = run_json(&mut exhibit(&["info", glb.to_str().unwrap(), "--json"]));
    for field in [
        "format",
        "points",
        "vertices",
        "triangles",
        "bounds_min",
        "bounds_max",
        "attributes",
    ] {
        assert!(!info[field].is_null(), "info --json lacks {field}: {info}");
    }
    assert_eq!(info["triangles"], 69451);
    assert_eq!(info["bin_sha256_matches"], true);
    // The bunny is about 15.5 cm wide, in metres.
    let width = info["bounds_max"][0].as_f64().unwrap() - info["bounds_min"][0].as_f64().unwrap();
    assert!((0.15..0.16).contains(&width), "{width}");
    assert_valid_gltf(&[&glb]);
}

#[test]
fn ingest_binary_ply_keeps_colours_and_normals() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("frag.glb");
    let report = ingest_json(&data("ply/frag_115.ply"), &glb, &["--precision-mm", "0.1"]);
    assert_eq!(report["points_in"], 64365);
    assert!(report["max_normal_error_deg"].as_f64().unwrap() < 1.5);
    let info = run_json(&mut exhibit(&["info", glb.to_str().unwrap(), "--json"]));
    assert_eq!(
        info["attributes"],
        serde_json::json!(["COLOR_0", "NORMAL", "POSITION"])
    );
    assert_valid_gltf(&[&glb]);
}

#[test]
fn ingest_obj_with_units_and_a_large_object_in_chunks() {
    // A 4 m x 4 m wavy sheet written in millimetres: 80 000 grid steps at 0.05 mm, so several chunks.
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("sheet.obj");
    let n = 50;
    let mut text = String::from("# synthetic test sheet\n");
    for j in 0..n {
        for i in 0..n {
            let (x, y) = (
                f64::from(i) * 4000.0 / f64::from(n - 1),
                f64::from(j) * 4000.0 / f64::from(n - 1),
            );
            writeln!(text, "v {x} {y} {}", 30.0 * (x / 300.0).sin()).unwrap();
        }
    }
    for j in 0..n - 1 {
        for i in 0..n - 1 {
            let a = j * n + i + 1;
            writeln!(text, "f {a} {} {} {}", a + 1, a + n + 1, a + n).unwrap();
        }
    }
    std::fs::write(&obj, text).unwrap();
    let glb = dir.path().join("sheet.glb");
    let report = ingest_json(&obj, &glb, &["--unit", "mm"]);
    assert!(report["chunks"].as_u64().unwrap() > 1, "{report}");
    assert_eq!(report["triangles"], 2 * 49 * 49);
    let info = run_json(&mut exhibit(&["info", glb.to_str().unwrap(), "--json"]));
    let width = info["bounds_max"][0].as_f64().unwrap() - info["bounds_min"][0].as_f64().unwrap();
    assert!(
        (width - 4.0).abs() < 1e-4,
        "4000 mm should read as 4 m, got {width}"
    );
    assert_valid_gltf(&[&glb]);
}

#[test]
fn ingest_is_byte_identical_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let input = data("ply/frag_115.ply");
    let mut outputs = Vec::new();
    for threads in ["1", "2", "5"] {
        let glb = dir.path().join(format!("t{threads}.glb"));
        let output = run(exhibit(&[
            "ingest",
            input.to_str().unwrap(),
            "-o",
            glb.to_str().unwrap(),
        ])
        .env("RAYON_NUM_THREADS", threads));
        assert!(output.status.success());
        outputs.push((
            std::fs::read(&glb).unwrap(),
            std::fs::read(dir.path().join(format!("t{threads}.manifest.json"))).unwrap(),
        ));
    }
    assert!(
        outputs[0].0 == outputs[1].0 && outputs[0].0 == outputs[2].0,
        "GLB differs between thread counts"
    );
    // The sidecars differ only in the output file name they record.
    let strip = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace("t1.glb", "")
            .replace("t2.glb", "")
            .replace("t5.glb", "")
    };
    assert_eq!(strip(&outputs[0].1), strip(&outputs[1].1));
}

#[test]
fn bad_input_exits_1_naming_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.ply");
    std::fs::write(&bad, "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n1 2 oops\n").unwrap();
    let out = dir.path().join("out.glb");
    let output = run(&mut exhibit(&[
        "ingest",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.ply") && stderr.contains("line 9") && stderr.contains("\"oops\""),
        "{stderr}"
    );
    assert!(!out.exists(), "no output may be written for bad input");

    let missing = run(&mut exhibit(&["info", "/nonexistent/model.glb"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/model.glb"));

    let garbage = dir.path().join("garbage.glb");
    std::fs::write(&garbage, b"glTF\x02\0\0\0\xff\xff\0\0").unwrap();
    let output = run(&mut exhibit(&["info", garbage.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("garbage.glb") && stderr.contains("byte 8"),
        "{stderr}"
    );
}

#[test]
fn a_point_cloud_is_stored_as_points_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud.ply");
    let mut text = String::from(
        "ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nproperty float y\nproperty float z\nproperty float intensity\nend_header\n",
    );
    text += "0 0 0 1\n0.1 0 0 2\nnan 0 0 3\n0 0.1 0 4\n0 0 0.1 5\n";
    std::fs::write(&cloud, text).unwrap();
    let glb = dir.path().join("cloud.glb");
    let report = ingest_json(&cloud, &glb, &[]);
    assert_eq!(report["points_in"], 5);
    assert_eq!(report["points_used"], 4);
    assert_eq!(report["triangles"], 0);
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("stored as points") && notes.contains("dropped 1 points with NaN"),
        "{notes}"
    );
    let info = run_json(&mut exhibit(&["info", glb.to_str().unwrap(), "--json"]));
    assert_eq!(info["points"], 4);
    assert_eq!(
        info["attributes"],
        serde_json::json!(["POSITION", "_INTENSITY"])
    );
    assert_valid_gltf(&[&glb]);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&mut exhibit(&["ingest"])).status.code(), Some(2));
    assert_eq!(
        run(&mut exhibit(&["info", "a.glb", "--no-such-flag"]))
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&mut exhibit(&[
            "ingest", "a.ply", "-o", "b.glb", "--unit", "furlong"
        ]))
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn demo_runs_end_to_end_and_says_where_the_files_are() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut exhibit(&[
        "demo",
        "--out",
        dir.path().to_str().unwrap(),
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("bunny.glb") && stdout.contains("max error"),
        "{stdout}"
    );
    for file in [
        "bun_zipper.ply",
        "bunny.glb",
        "bunny.manifest.json",
        "scans/bun.conf",
        "bunny-views.glb",
    ] {
        assert!(dir.path().join(file).exists(), "demo did not write {file}");
    }
    // The pose file lists ten views; the two the repository lacks are named, the eight others used.
    assert!(stdout.contains("top2.ply, which is missing"), "{stdout}");
    assert!(!stdout.contains("bun090.ply, which is missing"), "{stdout}");
    assert!(
        stdout.contains("surface reconstructed from points"),
        "{stdout}"
    );
    // The court's half: the store, both confirmations, the link and its QR code drawn in the terminal.
    for needle in [
        "(2026)鲁01知民初1号 opened",
        "2 signature(s) verify",
        "byte-identical",
        "/s/",
        "█▀",
        "the store stopped with the demo",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
    assert!(dir.path().join("share-qr.png").is_file());
    assert_valid_gltf(&[
        &dir.path().join("bunny.glb"),
        &dir.path().join("bunny-views.glb"),
    ]);
}

#[test]
fn ingest_reencodes_any_gltf_and_its_own_models() {
    let dir = tempfile::tempdir().unwrap();
    let source = data("gltf/khronos_samples/Duck/Duck.glb");
    let source_info = run_json(&mut exhibit(&["info", source.to_str().unwrap(), "--json"]));
    let glb = dir.path().join("duck.glb");
    let report = ingest_json(&source, &glb, &["--precision-mm", "0.01"]);
    assert_eq!(report["triangles"], source_info["triangles"]);
    // Re-encoding our own model at a coarser precision keeps every triangle.
    let coarse = dir.path().join("duck-coarse.glb");
    let again = ingest_json(&glb, &coarse, &["--precision-mm", "0.5"]);
    assert_eq!(again["triangles"], source_info["triangles"]);
    assert!(again["bytes"].as_u64().unwrap() < report["bytes"].as_u64().unwrap());
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("duck-coarse.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["inputs"][0]["format"], "glb");
    assert_eq!(manifest["inputs"][0]["sha256"], sha256_file(&glb));
    assert_valid_gltf(&[&glb, &coarse]);
}

#[test]
fn verify_rederive_makes_the_model_again_from_its_raw_scan_under_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("bunny.glb");
    let options = ["--precision-mm", "0.1", "--lod", "2", "--unit", "m"];
    ingest_json(
        &root().join("assets/stanford-bunny/bun_zipper.ply"),
        &glb,
        &options,
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bunny.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["recipe"]["lod_levels"], 2,
        "{}",
        manifest["recipe"]
    );
    assert_eq!(manifest["recipe"]["unit"], "m");
    assert_eq!(manifest["recipe"]["precision_m"], 1e-4);

    // The sealed scan, handed over under another name in another folder.
    let sealed = dir.path().join("sealed");
    std::fs::create_dir(&sealed).unwrap();
    let raw = sealed.join("evidence-0001.ply");
    std::fs::copy(root().join("assets/stanford-bunny/bun_zipper.ply"), &raw).unwrap();
    let (glb_arg, raw_arg) = (glb.to_str().unwrap(), raw.to_str().unwrap());
    let report = run_json(&mut exhibit(&[
        "verify",
        glb_arg,
        "--rederive",
        raw_arg,
        "--json",
    ]));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["rederive"]["identical"], true);
    assert_eq!(
        report["rederive"]["rederived_sha256"],
        sha256_file(&glb).as_str()
    );

    // A model whose manifest claims other options than it was made with: re-deriving by its claim does
    // not give it back, and the report names where the two differ.
    let bytes = std::fs::read(&glb).unwrap();
    let claim = b"\"lod_levels\":2";
    let found: Vec<usize> = (0..bytes.len() - claim.len())
        .filter(|&i| bytes[i..].starts_with(claim))
        .collect();
    assert_eq!(found.len(), 1);
    let at = found[0] + claim.len() - 1;
    let mut lie = bytes.clone();
    lie[at] = b'3';
    let liar = dir.path().join("liar.glb");
    std::fs::write(&liar, &lie).unwrap();
    let output = run(&mut exhibit(&[
        "verify",
        liar.to_str().unwrap(),
        "--rederive",
        raw_arg,
        "--json",
    ]));
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("not the same file") && problems.contains("levels_requested"),
        "{problems}"
    );
    assert_eq!(report["rederive"]["identical"], false);

    // One changed byte in the raw scan: it is no longer the model's input, and both facts are named.
    let mut scan = std::fs::read(&raw).unwrap();
    let last = scan.len() - 2;
    scan[last] = if scan[last] == b'1' { b'2' } else { b'1' };
    let changed = sealed.join("changed.ply");
    std::fs::write(&changed, &scan).unwrap();
    let output = run(&mut exhibit(&[
        "verify",
        glb_arg,
        "--rederive",
        changed.to_str().unwrap(),
    ]));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("input bun_zipper.ply") && stdout.contains("was not given"),
        "{stdout}"
    );
    assert!(
        stdout.contains("changed.ply is not an input of this model"),
        "{stdout}"
    );

    // A glTF made elsewhere has no recipe: it says so instead of guessing.
    let foreign = data("gltf/khronos_samples/Box/Box.glb");
    let output = run(&mut exhibit(&[
        "verify",
        foreign.to_str().unwrap(),
        "--rederive",
        raw_arg,
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("no exhibit manifest"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Issue 18: `ingest --help` and the README list the same formats and units, both made from one table.
#[test]
fn regression_18_help_and_readme_list_every_format_from_one_table() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = ingest::formats::markdown_table();
    if std::env::var_os("UPDATE_README").is_some() && !readme.contains(&table) {
        let start = readme.find("| format | extensions |").unwrap();
        let end = readme[start..].find("<!-- formats end -->").unwrap() + start;
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(root().join("README.md"), updated).unwrap();
        return;
    }
    assert!(
        readme.contains(&table),
        "README's format table differs from ingest/src/formats.rs (UPDATE_README=1 rewrites it):\n{table}"
    );
    let help = run(&mut exhibit(&["ingest", "--help"]));
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for row in &ingest::formats::FORMATS {
        for extension in row.extensions {
            assert!(
                help.contains(&format!(".{extension}")),
                "--help lacks .{extension}:\n{help}"
            );
        }
    }
    for unit in ingest::formats::UNITS {
        assert!(help.contains(&unit.to_string()), "--help lacks unit {unit}");
    }
    assert!(help.contains(&ingest::formats::help_text()), "{help}");
}

/// Issue 18: a mesh whose normals are mostly good keeps them; the few of zero length are recomputed from the
/// faces around their vertex and counted (a Stanford dragon OBJ had 66 among 22,998, and lost them all).
#[test]
fn regression_18_a_few_zero_normals_are_recomputed_not_all_dropped() {
    // An octahedron around the origin: each vertex's true normal points along its position.
    let corners = [
        [1.0, 0.0, 0.0],
        [-1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, -1.0],
    ];
    let faces = [
        [1, 3, 5],
        [3, 2, 5],
        [2, 4, 5],
        [4, 1, 5],
        [3, 1, 6],
        [2, 3, 6],
        [4, 2, 6],
        [1, 4, 6],
    ];
    let write = |zero: &[usize], extra_vertex: bool| {
        let mut obj = String::new();
        for c in &corners {
            let _ = writeln!(obj, "v {} {} {}", c[0] * 0.1, c[1] * 0.1, c[2] * 0.1);
        }
        if extra_vertex {
            // A second vertex where the first is: its only face has no area.
            obj.push_str("v 0.1 0 0\n");
        }
        for (i, c) in corners.iter().enumerate() {
            if zero.contains(&i) {
                obj.push_str("vn 0 0 0\n");
            } else {
                let _ = writeln!(obj, "vn {} {} {}", c[0], c[1], c[2]);
            }
        }
        if extra_vertex {
            obj.push_str("vn 0 0 0\n");
        }
        for f in &faces {
            let _ = writeln!(obj, "f {0}//{0} {1}//{1} {2}//{2}", f[0], f[1], f[2]);
        }
        if extra_vertex {
            obj.push_str("f 1//1 7//7 3//3\n");
        }
        obj
    };
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("octahedron.obj");
    std::fs::write(&obj, write(&[0, 4], false)).unwrap();
    let glb = dir.path().join("octahedron.glb");
    let report = ingest_json(&obj, &glb, &["--lod", "1"]);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("octahedron.manifest.json")).unwrap(),
    )
    .unwrap();
    let read = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "read")
        .unwrap();
    assert_eq!(read["result"]["normals_recomputed"], 2, "{read}");
    assert_eq!(read["result"]["normals_left_out"], 0, "{read}");
    assert!(
        report
            .to_string()
            .contains("2 normals of zero length recomputed"),
        "{report}"
    );
    let model = codec::read_model(&glb).unwrap();
    let normals = model.mesh.normals.as_ref().expect("normals kept");
    for (position, normal) in model.mesh.positions.iter().zip(normals) {
        let length = position.iter().map(|c| c * c).sum::<f32>().sqrt();
        let along: f32 = (0..3).map(|a| position[a] / length * normal[a]).sum();
        assert!(along > 0.999, "normal {normal:?} at {position:?}");
    }
    // A vertex whose only face has no area has nothing to recompute from: then the normals are left out, and
    // said so.
    std::fs::write(&obj, write(&[0], true)).unwrap();
    let report = ingest_json(&obj, &glb, &["--lod", "1"]);
    assert!(
        report
            .to_string()
            .contains("normals of zero length: all normals left out"),
        "{report}"
    );
}
