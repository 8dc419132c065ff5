//! Scanner files: every sample reads with the counts and bounds an independent reader reports, and
//! point clouds become valid glTF POINTS files.
//!
//! Expected counts and bounds come from Open3D 0.20 (`read_point_cloud(..., remove_nan_points=True)`,
//! `read_triangle_mesh`) run on the same files, from the files' own headers, and for STL the triangle
//! count from Open3D (exhibit welds equal corners, so its vertex count is lower).

use crate::support::{assert_valid_gltf, data, exhibit, run_json};

struct Expect {
    file: &'static str,
    format: &'static str,
    points: u64,
    triangles: u64,
    attributes: &'static [&'static str],
    /// Bounds in metres, checked to 1e-5 m; `None` to skip.
    bounds: Option<([f64; 3], [f64; 3])>,
}

fn check(expect: &Expect) {
    let path = data(expect.file);
    let info = run_json(&mut exhibit(&["info", path.to_str().unwrap(), "--json"]));
    assert_eq!(info["format"], expect.format, "{}: {info}", expect.file);
    let points = info["points"].as_u64().unwrap();
    if expect.triangles == 0 {
        assert_eq!(points, expect.points, "{}: points", expect.file);
    }
    assert_eq!(
        info["triangles"].as_u64().unwrap(),
        expect.triangles,
        "{}: triangles",
        expect.file
    );
    let attributes: Vec<&str> = info["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(attributes, expect.attributes, "{}: attributes", expect.file);
    if let Some((min, max)) = expect.bounds {
        for axis in 0..3 {
            let (lo, hi) = (
                info["bounds_min"][axis].as_f64().unwrap(),
                info["bounds_max"][axis].as_f64().unwrap(),
            );
            assert!(
                (lo - min[axis]).abs() < 1e-5 && (hi - max[axis]).abs() < 1e-5,
                "{}: bounds {lo}..{hi} on axis {axis}",
                expect.file
            );
        }
    }
}

#[test]
fn every_sample_scan_reads_as_an_independent_reader_sees_it() {
    let cases = [
        Expect {
            file: "pcd/bun0.pcd",
            format: "pcd-ascii",
            points: 397,
            triangles: 0,
            attributes: &["POSITION", "NORMAL"],
            bounds: Some((
                [-0.093938, 0.03742, -0.055026],
                [0.059562, 0.1845, 0.057803],
            )),
        },
        Expect {
            file: "pcd/lamppost.pcd",
            format: "pcd-ascii",
            points: 1771,
            triangles: 0,
            attributes: &["POSITION"],
            bounds: Some((
                [-11.171875, -0.375, -5.447998],
                [-9.765625, 0.59375, 0.466999],
            )),
        },
        Expect {
            file: "pcd/milk.pcd",
            format: "pcd-binary_compressed",
            points: 13704,
            triangles: 0,
            attributes: &["POSITION"],
            bounds: Some(([-0.140083, -0.26378, 0.714], [0.013807, -0.011729, 0.891])),
        },
        Expect {
            file: "pcd/cloud_bin_0.pcd",
            format: "pcd-binary",
            points: 3903,
            triangles: 0,
            attributes: &["POSITION", "NORMAL", "COLOR_0"],
            bounds: Some((
                [1.231698, -0.004852, -2.290014],
                [2.949037, 2.086066, -0.808995],
            )),
        },
        // An organized 640 x 480 stereo cloud: 307,200 pixels, 97,920 of them NaN.
        Expect {
            file: "pcd/table_scene_mug_stereo_textured.pcd",
            format: "pcd-binary_compressed",
            points: 209_280,
            triangles: 0,
            attributes: &["POSITION", "COLOR_0"],
            bounds: Some(([-0.45643, -0.51074, 0.69001], [0.71518, 0.17923, 2.5927])),
        },
        Expect {
            file: "xyz_pts/autzen.pts",
            format: "pts",
            points: 10,
            triangles: 0,
            attributes: &["POSITION", "COLOR_0", "_INTENSITY"],
            bounds: None,
        },
        Expect {
            file: "xyz_pts/site_56_8.pts",
            format: "pts",
            points: 8,
            triangles: 0,
            attributes: &["POSITION", "_INTENSITY"],
            bounds: None,
        },
        Expect {
            file: "xyz_pts/points_agisoft.xyz",
            format: "xyz",
            points: 100,
            triangles: 0,
            attributes: &["POSITION", "COLOR_0"],
            bounds: None,
        },
        // The file's count line says 8 but it holds 9 points: all are read and the metadata says so.
        Expect {
            file: "xyz_pts/bunny_8.pts",
            format: "pts",
            points: 9,
            triangles: 0,
            attributes: &["POSITION"],
            bounds: None,
        },
        Expect {
            file: "stl/featuretype.STL",
            format: "stl-binary",
            points: 0,
            triangles: 3476,
            attributes: &["POSITION"],
            bounds: None,
        },
        Expect {
            file: "stl/1002_tray_bottom.STL",
            format: "stl-ascii",
            points: 0,
            triangles: 4520,
            attributes: &["POSITION"],
            bounds: None,
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn survey_coordinates_keep_their_digits() {
    // Agisoft's export is in UTM metres (about 665,187 m east, 5,648,349 m north): the f64 origin keeps
    // every digit of the file, which has six decimals (1 µm).
    let info = run_json(&mut exhibit(&[
        "info",
        data("xyz_pts/points_agisoft.xyz").to_str().unwrap(),
        "--json",
    ]));
    let rounding_mm = info["read"]["max_f32_rounding_mm"].as_f64().unwrap();
    assert!(rounding_mm < 0.002, "{rounding_mm} mm lost to f32");
    let min_x = info["bounds_min"][0].as_f64().unwrap();
    assert!(min_x > 665_000.0 && min_x < 666_000.0);
}

#[test]
fn point_clouds_become_valid_gltf_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (input, name) in [
        ("pcd/table_scene_mug_stereo_textured.pcd", "mug.glb"),
        ("pcd/cloud_bin_0.pcd", "frag.glb"),
        ("xyz_pts/autzen.pts", "autzen.glb"),
    ] {
        let glb = dir.path().join(name);
        let report = run_json(&mut exhibit(&[
            "ingest",
            data(input).to_str().unwrap(),
            "-o",
            glb.to_str().unwrap(),
            "--points",
            "--json",
        ]));
        assert!(
            report["notes"].to_string().contains("stored as points"),
            "{report}"
        );
        let info = run_json(&mut exhibit(&["info", glb.to_str().unwrap(), "--json"]));
        assert_eq!(info["points"], report["points_used"]);
        files.push(glb);
    }
    let refs: Vec<&std::path::Path> = files.iter().map(std::path::PathBuf::as_path).collect();
    assert_valid_gltf(&refs);
}

#[test]
fn stl_defaults_to_millimetres_and_columns_can_be_named() {
    let info = run_json(&mut exhibit(&[
        "info",
        data("stl/featuretype.STL").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(info["unit"], "mm");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("columns.txt");
    std::fs::write(&text, "7 1 2 3\n8 4 5 6\n").unwrap();
    let glb = dir.path().join("columns.glb");
    let report = run_json(&mut exhibit(&[
        "ingest",
        text.to_str().unwrap(),
        "-o",
        glb.to_str().unwrap(),
        "--columns",
        "i,x,y,z",
        "--json",
    ]));
    assert_eq!(report["points_used"], 2);
    let bad = crate::support::run(&mut exhibit(&[
        "ingest",
        text.to_str().unwrap(),
        "-o",
        glb.to_str().unwrap(),
        "--columns",
        "x,y,w",
    ]));
    assert_eq!(bad.status.code(), Some(2));
}

/// LAS/LAZ and E57 against laspy 2.7 (with lazrs) and pye57 0.4 on the same files: counts, and bounds in
/// the file's own unit (laspy reports coordinates as stored; exhibit reports metres, so its bounds are
/// divided by the unit it read the file in).
#[test]
fn lidar_and_e57_files_match_laspy_and_pye57() {
    // (file, format, points, laspy/pye57 minimum, maximum, unit exhibit reads it in)
    type Case = (
        &'static str,
        &'static str,
        u64,
        [f64; 3],
        [f64; 3],
        &'static str,
    );
    let cases: [Case; 8] = [
        (
            "las/1.2-with-color.las",
            "las-1.2",
            1065,
            [635_619.85, 848_899.7, 406.59],
            [638_982.55, 853_535.43, 586.38],
            "m",
        ),
        (
            "las/autzen_trim.laz",
            "laz-1.2",
            110_000,
            [636_001.76, 848_935.2, 406.26],
            [637_179.22, 849_497.9, 520.51],
            "ft",
        ),
        (
            "las/test1_4.las",
            "las-1.4",
            1000,
            [1_694_038.446, 1_816_492.706, 5592.75],
            [1_694_539.677, 1_816_497.976, 5599.07],
            "us-ft",
        ),
        (
            "las/certainty3d-color-utm-feet-navd88.las",
            "las-1.2",
            10126,
            [6_326_726.536, 2_068_062.385, 2700.53],
            [6_330_162.951, 2_071_932.24, 2975.712],
            "us-ft",
        ),
        (
            "e57/bunnyInt19.e57",
            "e57",
            30571,
            [-0.095, 0.04, -0.062],
            [0.061, 0.187, 0.059],
            "m",
        ),
        (
            "e57/tinyCartesianFloatRgb.e57",
            "e57",
            2090,
            [-9.78, 4.514, 295.525],
            [-6.774, 7.515, 298.532],
            "m",
        ),
        (
            "e57/tiny_spherical.e57",
            "e57",
            180,
            [0.0, -0.5, 0.0],
            [1.0, 0.5, 1.0],
            "m",
        ),
        (
            "e57/tiny_pc_and_images.e57",
            "e57",
            2,
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0],
            "m",
        ),
    ];
    for (file, format, points, min, max, unit) in cases {
        let info = run_json(&mut exhibit(&[
            "info",
            data(file).to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(info["format"], format, "{file}");
        assert_eq!(info["points"], points, "{file}");
        assert_eq!(info["unit"], unit, "{file}");
        let metres: f64 = match unit {
            "ft" => 0.3048,
            "us-ft" => 1200.0 / 3937.0,
            _ => 1.0,
        };
        for axis in 0..3 {
            let lo = info["bounds_min"][axis].as_f64().unwrap() / metres;
            let hi = info["bounds_max"][axis].as_f64().unwrap() / metres;
            // laspy and pye57 bounds above are rounded to 3 decimals.
            assert!(
                (lo - min[axis]).abs() < 6e-4 && (hi - max[axis]).abs() < 6e-4,
                "{file}: axis {axis} {lo}..{hi}"
            );
        }
    }
}

#[test]
fn a_corrupt_e57_page_is_reported_not_ignored() {
    let mut bytes = std::fs::read(data("e57/bunnyInt19.e57")).unwrap();
    // Flip one byte in the middle of the binary section: its page's CRC no longer matches.
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("corrupt.e57");
    std::fs::write(&bad, bytes).unwrap();
    let output = crate::support::run(&mut exhibit(&["info", bad.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("corrupt.e57") && stderr.to_lowercase().contains("checksum"),
        "{stderr}"
    );
}

/// Median distance from every 10th point of `moved` to its nearest point of `fixed`, through a grid of
/// 2 mm cells (neighbours further than 2 mm count as 2 mm: enough to tell aligned from not).
fn median_gap_m(fixed: &[[f64; 3]], moved: &[[f64; 3]]) -> f64 {
    let cell = 0.002;
    let key = |p: &[f64; 3]| p.map(|c| (c / cell).floor() as i64);
    let mut grid: std::collections::HashMap<[i64; 3], Vec<[f64; 3]>> =
        std::collections::HashMap::new();
    for p in fixed {
        grid.entry(key(p)).or_default().push(*p);
    }
    let mut gaps: Vec<f64> = moved
        .iter()
        .step_by(10)
        .map(|p| {
            let k = key(p);
            let mut best = cell;
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for dz in -1..=1 {
                        for q in grid
                            .get(&[k[0] + dx, k[1] + dy, k[2] + dz])
                            .into_iter()
                            .flatten()
                        {
                            best = best.min(
                                ((p[0] - q[0]).powi(2)
                                    + (p[1] - q[1]).powi(2)
                                    + (p[2] - q[2]).powi(2))
                                .sqrt(),
                            );
                        }
                    }
                }
            }
            best
        })
        .collect();
    gaps.sort_by(f64::total_cmp);
    gaps[gaps.len() / 2]
}

fn world_points(path: &std::path::Path) -> Vec<[f64; 3]> {
    let scan = ingest::read_scan(path, &ingest::ReadOptions::default()).unwrap();
    let ingest::Geometry::Points(cloud) = scan.geometry else {
        panic!("{} is not a point cloud", path.display())
    };
    cloud
        .positions
        .iter()
        .map(|p| [0, 1, 2].map(|a| cloud.origin_m[a] + f64::from(p[a])))
        .collect()
}

fn posed(points: &[[f64; 3]], pose: &ingest::views::Pose) -> Vec<[f64; 3]> {
    points
        .iter()
        .map(|p| {
            [0, 1, 2].map(|i| {
                pose.rotation[i][0] * p[0]
                    + pose.rotation[i][1] * p[1]
                    + pose.rotation[i][2] * p[2]
                    + pose.translation[i]
            })
        })
        .collect()
}

#[test]
fn stanford_poses_bring_the_views_together() {
    // bun.conf: bun045 at t = (-0.0520211, -0.000383981, -0.0109223), q = (0.00548449, -0.294635, -0.0038555, 0.955586).
    let fixed = world_points(&data("stanford_bunny/bun000.ply"));
    let moved = world_points(&data("stanford_bunny/bun045.ply"));
    let t = [-0.0520211, -0.000383981, -0.0109223];
    let q = [0.00548449, -0.294635, -0.0038555, 0.955586];
    let conjugated = ingest::views::Pose::from_stanford(t, q);
    let as_written = ingest::views::Pose::from_stanford(t, [-q[0], -q[1], -q[2], q[3]]);
    let aligned = median_gap_m(&fixed, &posed(&moved, &conjugated));
    let misaligned = median_gap_m(&fixed, &posed(&moved, &as_written));
    assert!(
        aligned < 0.0006,
        "median gap {aligned} m with the measured convention"
    );
    assert!(
        misaligned > 0.0015,
        "the other convention should not align: {misaligned} m"
    );
}

#[test]
fn a_pose_file_merges_views_and_names_the_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("views.glb");
    let conf = data("stanford_bunny/bun.conf");
    let report = run_json(&mut exhibit(&[
        "ingest",
        conf.to_str().unwrap(),
        "-o",
        glb.to_str().unwrap(),
        "--icp",
        "--json",
    ]));
    // bun000 has 40,256 points and bun045 40,097; the conf lists eight more views that are not here.
    assert_eq!(report["points_in"], 40_256 + 40_097);
    let notes = report["notes"].to_string();
    for missing in ["top2.ply", "top3.ply", "chin.ply", "bun090.ply"] {
        assert!(
            notes.contains(missing) && notes.contains("missing"),
            "no warning for {missing}: {notes}"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("views.manifest.json")).unwrap())
            .unwrap();
    let inputs: Vec<&str> = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["bun.conf", "bun000.ply", "bun045.ply"]);
    let register = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "register")
        .expect("a register step");
    // The second view is refined by ICP onto the first: its RMS is recorded and does not grow.
    let icp = register["params"]["icp"].as_array().unwrap();
    assert_eq!(icp.len(), 2, "{register}");
    let (before, after) = (
        icp[1]["rms_before_mm"].as_f64().unwrap(),
        icp[1]["rms_after_mm"].as_f64().unwrap(),
    );
    assert!(after <= before && after < 1.0, "{before} -> {after} mm");
    assert_valid_gltf(&[&glb]);
    // The same scans named on the command line with --poses give the same model.
    let again = dir.path().join("again.glb");
    let scans = [
        data("stanford_bunny/bun000.ply"),
        data("stanford_bunny/bun045.ply"),
    ];
    let args = [
        "ingest",
        scans[0].to_str().unwrap(),
        scans[1].to_str().unwrap(),
        "--poses",
        conf.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
        "--icp",
        "--json",
    ];
    let report_again = run_json(&mut exhibit(&args));
    assert_eq!(report_again["points_used"], report["points_used"]);

    // The sealed pose file and scans, renamed and in another order, make the first model again byte for
    // byte: the pose file still finds its views, ICP runs again with the recorded options.
    let sealed = dir.path().join("sealed");
    std::fs::create_dir(&sealed).unwrap();
    let mut raws = Vec::new();
    for (i, from) in [&scans[1], &conf, &scans[0]].into_iter().enumerate() {
        let to = sealed.join(format!("item-{i}.bin"));
        std::fs::copy(from, &to).unwrap();
        raws.push(to.to_str().unwrap().to_owned());
    }
    let mut args = vec!["verify", glb.to_str().unwrap(), "--json", "--rederive"];
    args.extend(raws.iter().map(String::as_str));
    let verified = run_json(&mut exhibit(&args));
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["rederive"]["identical"], true, "{verified}");
}

#[test]
fn parallel_decoding_gives_the_same_bytes_on_any_thread_count() {
    // Binary PLY records and LAZ chunks are decoded in parallel; the model must not notice.
    let dir = tempfile::tempdir().unwrap();
    for input in ["las/autzen_trim.laz", "pcd/cloud_bin_0.pcd"] {
        let mut models = Vec::new();
        for threads in ["1", "3"] {
            let glb = dir.path().join(format!("t{threads}.glb"));
            let output = crate::support::run(
                exhibit(&[
                    "ingest",
                    data(input).to_str().unwrap(),
                    "-o",
                    glb.to_str().unwrap(),
                    "--points",
                ])
                .env("RAYON_NUM_THREADS", threads),
            );
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            models.push(std::fs::read(&glb).unwrap());
        }
        assert!(
            models[0] == models[1],
            "{input}: the model depends on the thread count"
        );
    }
}

#[test]
fn a_range_scan_becomes_a_flagged_mesh_whatever_the_thread_count() {
    // One raw Stanford range scan (40,256 points, no normals): normals estimated and oriented, surface
    // reconstructed, trimmed, flagged, simplified, encoded; the same bytes on 1 and 3 threads.
    let dir = tempfile::tempdir().unwrap();
    let mut models = Vec::new();
    let mut reports = Vec::new();
    for threads in ["1", "3"] {
        let glb = dir.path().join(format!("bun000-{threads}.glb"));
        let output = crate::support::run(
            exhibit(&[
                "ingest",
                data("stanford_bunny/bun000.ply").to_str().unwrap(),
                "-o",
                glb.to_str().unwrap(),
                "--depth",
                "7",
                "--json",
            ])
            .env("RAYON_NUM_THREADS", threads),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        reports.push(serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap());
        models.push(std::fs::read(&glb).unwrap());
    }
    assert!(
        models[0] == models[1],
        "the surface depends on the thread count"
    );
    let report = &reports[0];
    assert!(report["triangles"].as_u64().unwrap() > 10_000, "{report}");
    let stages = report["stages"].as_object().unwrap();
    for stage in [
        "normals",
        "poisson",
        "iso_surface",
        "trim",
        "simplify",
        "levels_of_detail",
        "encode",
    ] {
        assert!(stages.contains_key(stage), "no stage {stage}: {report}");
    }
    // Coarser levels for phones, each with fewer triangles and a measured, recorded distance from the model.
    let levels = report["levels"].as_array().unwrap();
    assert!(!levels.is_empty(), "{report}");
    let bytes = std::fs::read(dir.path().join("bun000-1.glb")).unwrap();
    let mut previous = report["triangles"].as_u64().unwrap();
    for (k, level) in levels.iter().enumerate() {
        let decoded = codec::read_model_level_bytes(&bytes, None, k + 1).unwrap();
        let triangles = decoded.mesh.triangle_count() as u64;
        assert_eq!(triangles, level["triangles"].as_u64().unwrap());
        assert!(
            triangles < previous / 3,
            "level {}: {triangles} triangles after {previous}",
            k + 1
        );
        previous = triangles;
        let error = level["max_error_mm"].as_f64().unwrap();
        assert!(error > 0.0 && error < 5.0, "level {}: {error} mm", k + 1);
    }
    let glb = dir.path().join("bun000-1.glb");
    let model = codec::read_model(&glb).unwrap();
    let measured = model
        .mesh
        .measured
        .as_ref()
        .expect("the _MEASURED attribute");
    let share = measured.iter().filter(|&&m| m).count() as f64 / measured.len() as f64;
    // One view of the bunny: mostly measured, some filled in where the scanner saw nothing.
    assert!((0.5..1.0).contains(&share), "{share}");
    let manifest = std::fs::read_to_string(dir.path().join("bun000-1.manifest.json")).unwrap();
    for step in [
        "\"normals\"",
        "\"reconstruct\"",
        "\"trim\"",
        "reconstructed_area_share",
    ] {
        assert!(manifest.contains(step), "the manifest lacks {step}");
    }
    assert_valid_gltf(&[glb.as_path()]);
}
