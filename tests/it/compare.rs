//! Comparing two models: a known motion is recovered, a known bump is found, and the report's numbers are the
//! JSON's. Models are made here and written through the codec, so their geometry is known exactly.

use std::collections::HashMap;
use std::path::Path;

use glam::{DMat4, DQuat, DVec3};
use viewer::compare::{Align, CompareOptions, compare};
use viewer::headless::load_model;

use crate::support::{data, exhibit, run, run_json};

/// A unit icosphere subdivided `levels` times, scaled to `radius_m`.
fn icosphere(levels: usize, radius_m: f64) -> codec::Mesh {
    let t = f64::midpoint(1.0, 5f64.sqrt());
    let mut points: Vec<DVec3> = [
        (-1.0, t, 0.0),
        (1.0, t, 0.0),
        (-1.0, -t, 0.0),
        (1.0, -t, 0.0),
        (0.0, -1.0, t),
        (0.0, 1.0, t),
        (0.0, -1.0, -t),
        (0.0, 1.0, -t),
        (t, 0.0, -1.0),
        (t, 0.0, 1.0),
        (-t, 0.0, -1.0),
        (-t, 0.0, 1.0),
    ]
    .iter()
    .map(|&(x, y, z)| DVec3::new(x, y, z).normalize())
    .collect();
    let mut faces: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    for _ in 0..levels {
        let mut middle: HashMap<(u32, u32), u32> = HashMap::new();
        let mut split = |a: u32, b: u32, points: &mut Vec<DVec3>| {
            *middle.entry((a.min(b), a.max(b))).or_insert_with(|| {
                points.push(((points[a as usize] + points[b as usize]) * 0.5).normalize());
                (points.len() - 1) as u32
            })
        };
        let mut next = Vec::with_capacity(faces.len() * 4);
        for [a, b, c] in faces {
            let (ab, bc, ca) = (
                split(a, b, &mut points),
                split(b, c, &mut points),
                split(c, a, &mut points),
            );
            next.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        faces = next;
    }
    codec::Mesh {
        origin_m: [500.0, 20.0, 3.0],
        positions: points
            .iter()
            .map(|p| (*p * radius_m).as_vec3().to_array())
            .collect(),
        indices: faces.into_iter().flatten().collect(),
        ..codec::Mesh::default()
    }
}

fn write(mesh: &codec::Mesh, path: &Path) {
    let encoded = codec::encode_glb(
        mesh,
        &codec::EncodeConfig { precision_m: 1e-5 },
        codec::Provenance::default(),
    )
    .unwrap();
    std::fs::write(path, encoded.glb).unwrap();
}

#[test]
fn a_moved_copy_is_aligned_back_and_deviates_by_almost_nothing() {
    let model = codec::read_model(&data("format-v1/bun_zipper_res4.glb")).unwrap();
    let a = model.mesh;
    // Move B by 5° about a skew axis through the centroid and by (2, −1, 3) mm.
    let n = a.positions.len() as f64;
    let centroid = a
        .positions
        .iter()
        .map(|p| DVec3::from(p.map(f64::from)))
        .sum::<DVec3>()
        / n;
    let motion = DMat4::from_translation(centroid + DVec3::new(0.002, -0.001, 0.003))
        * DMat4::from_quat(DQuat::from_axis_angle(
            DVec3::new(1.0, 2.0, 3.0).normalize(),
            5f64.to_radians(),
        ))
        * DMat4::from_translation(-centroid);
    let b = codec::Mesh {
        positions: a
            .positions
            .iter()
            .map(|p| {
                motion
                    .transform_point3(DVec3::from(p.map(f64::from)))
                    .as_vec3()
                    .to_array()
            })
            .collect(),
        ..a.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.glb"), dir.path().join("b.glb"));
    write(&a, &pa);
    write(&b, &pb);
    let (ma, mb) = (load_model(&pa, 0).unwrap(), load_model(&pb, 0).unwrap());
    let result = compare(
        &ma,
        &mb,
        &CompareOptions {
            align: Align::Icp,
            tolerance_mm: 0.05,
            ..CompareOptions::default()
        },
    )
    .unwrap();
    // The recorded (world) transform brings B's vertices back onto A's, vertex for vertex.
    let transform = DMat4::from_cols_array(&result.alignment.transform);
    let worst = a
        .positions
        .iter()
        .zip(&b.positions)
        .map(|(pa, pb)| {
            let world_b = DVec3::from(pb.map(f64::from)) + DVec3::from(b.origin_m);
            let world_a = DVec3::from(pa.map(f64::from)) + DVec3::from(a.origin_m);
            (transform.transform_point3(world_b) - world_a).length()
        })
        .fold(0.0f64, f64::max);
    assert!(
        worst < 5e-5,
        "vertices off by {} mm after alignment",
        worst * 1e3
    );
    assert!(
        (result.alignment.rotation_deg - 5.0).abs() < 0.01,
        "{:?}",
        result.alignment
    );
    assert!(result.statistics.max_mm < 0.05, "{:?}", result.statistics);
    assert!(result.statistics.within_tolerance > 0.999);
    assert_eq!(
        result.statistics.invented_share, 0.0,
        "nothing was filled in"
    );
}

#[test]
fn a_bump_is_found_where_it_is_and_as_high_as_it_is() {
    let reference = icosphere(5, 0.05);
    // A bump of 2 mm at the north pole, 15 mm wide: smooth, (1 − (d/r)²)² along the normal.
    let (height, radius) = (0.002, 0.015);
    let pole = DVec3::new(0.0, 0.05, 0.0);
    let bumped = codec::Mesh {
        positions: reference
            .positions
            .iter()
            .map(|p| {
                let p = DVec3::from(p.map(f64::from));
                let d = (p - pole).length();
                let lift = if d < radius {
                    height * (1.0 - (d / radius).powi(2)).powi(2)
                } else {
                    0.0
                };
                (p + p.normalize() * lift).as_vec3().to_array()
            })
            .collect(),
        ..reference.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("bumped.glb"), dir.path().join("sphere.glb"));
    write(&bumped, &pa);
    write(&reference, &pb);
    let (a, b) = (load_model(&pa, 0).unwrap(), load_model(&pb, 0).unwrap());
    for align in [Align::None, Align::Icp] {
        let result = compare(
            &a,
            &b,
            &CompareOptions {
                align: align.clone(),
                tolerance_mm: 0.1,
                ..CompareOptions::default()
            },
        )
        .unwrap();
        let s = &result.statistics;
        assert!((s.max_mm - 2.0).abs() < 0.05, "{align:?}: max {}", s.max_mm);
        assert!(
            s.signed_max_mm > 1.95,
            "{align:?}: the bump is outside B: {}",
            s.signed_max_mm
        );
        // Where: the deepest vertex is at the pole; everything beyond the tolerance lies within the bump.
        let (worst, _) = result
            .deviation_mm
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
            .unwrap();
        let at = DVec3::from(a.positions[worst].map(f64::from));
        assert!(
            (at - pole).length() < 0.0025,
            "{align:?}: deepest point at {at}"
        );
        for (p, d) in a.positions.iter().zip(&result.deviation_mm) {
            if d.abs() > 0.1 {
                let p = DVec3::from(p.map(f64::from));
                assert!(
                    (p.normalize() * 0.05 - pole).length() < radius,
                    "{align:?}: {d} mm at {p}, outside the bump"
                );
            }
        }
        // A region of interest (world metres; the sphere's origin is (500, 20, 3)): the bump's region holds the
        // maximum, the opposite pole none of it.
        let roi = |low: [f64; 3], high: [f64; 3]| {
            let options = CompareOptions {
                align: align.clone(),
                tolerance_mm: 0.1,
                roi: Some((low, high)),
                ..CompareOptions::default()
            };
            compare(&a, &b, &options).unwrap().statistics
        };
        let near = roi([499.98, 20.03, 2.98], [500.02, 20.06, 3.02]);
        assert!(
            (near.max_mm - 2.0).abs() < 0.05 && near.count < s.count,
            "{near:?}"
        );
        let far = roi([499.98, 19.94, 2.98], [500.02, 19.97, 3.02]);
        assert!(far.max_mm < 0.05 && far.count > 0, "{far:?}");
        // The robust fit does not let the bump pull B towards it.
        assert!(
            result.alignment.translation_mm < 0.05,
            "{align:?}: {:?}",
            result.alignment
        );
    }
}

#[test]
fn the_report_page_says_exactly_what_the_json_says() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("bumped.glb"), dir.path().join("sphere.glb"));
    let sphere = icosphere(3, 0.05);
    let mut bumped = sphere.clone();
    bumped.positions[0] = (DVec3::from(bumped.positions[0].map(f64::from)) * 1.04)
        .as_vec3()
        .to_array();
    write(&bumped, &pa);
    write(&sphere, &pb);
    let report = dir.path().join("report.json");
    let heat = dir.path().join("heat.png");
    let json = run_json(&mut exhibit(&[
        "compare",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--tolerance-mm",
        "0.2",
        "--report",
        report.to_str().unwrap(),
        "--png",
        heat.to_str().unwrap(),
        "--size",
        "400x300",
        "--json",
    ]));
    for key in [
        "mean_mm",
        "rms_mm",
        "p95_mm",
        "max_mm",
        "within_tolerance",
        "seconds",
    ] {
        assert!(json[key].is_number(), "{key} missing: {json}");
    }
    assert_eq!(json["transform"].as_array().unwrap().len(), 16);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let page = std::fs::read_to_string(report.with_extension("html")).unwrap();
    let shown = |key: &str| {
        let start = page
            .find(&format!(r#"data-key="{key}">"#))
            .unwrap_or_else(|| panic!("{key} not on the page"));
        let rest = &page[start + key.len() + 12..];
        rest[..rest.find('<').unwrap()].to_string()
    };
    let number = |v: &serde_json::Value| viewer::report::number(v.as_f64().unwrap());
    for key in [
        "mean_mm",
        "rms_mm",
        "p95_mm",
        "max_mm",
        "within_tolerance",
        "tolerance_mm",
    ] {
        assert_eq!(shown(key), number(&saved[key]), "{key}");
        assert_eq!(saved[key], json[key], "{key}");
    }
    for key in [
        "signed_mean_mm",
        "signed_min_mm",
        "signed_max_mm",
        "invented_share",
    ] {
        assert_eq!(shown(key), number(&saved["statistics"][key]), "{key}");
    }
    assert_eq!(
        shown("rotation_deg"),
        number(&saved["alignment"]["rotation_deg"])
    );
    assert_eq!(
        shown("alignment_rms_mm"),
        number(&saved["alignment"]["rms_mm"])
    );
    let transform: Vec<String> = saved["transform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{:.9}", v.as_f64().unwrap()))
        .collect();
    assert_eq!(shown("transform"), transform.join(", "));
    assert_eq!(shown("a_sha256"), crate::support::sha256_file(&pa));
    assert_eq!(shown("b_sha256"), crate::support::sha256_file(&pb));
    // The bumped vertex is 2 mm out: the page and the JSON both say so.
    assert!(
        (saved["max_mm"].as_f64().unwrap() - 2.0).abs() < 0.01,
        "{saved}"
    );
    let png = image::open(&heat).unwrap();
    assert_eq!((png.width(), png.height()), (400, 300));
    // Bad requests name what is wrong.
    for (args, needle) in [
        (vec!["--align", "magic"], "--align"),
        (vec!["--tolerance-mm=-1"], "tolerance"),
    ] {
        let mut all = vec!["compare", pa.to_str().unwrap(), pb.to_str().unwrap()];
        all.extend(args);
        let output = run(&mut exhibit(&all));
        assert_eq!(output.status.code(), Some(1), "{all:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(needle));
    }
}

#[test]
fn a_scale_model_is_aligned_by_picked_pairs_and_by_its_spread() {
    // B: the bunny at half size, turned 40° and moved 30 mm, as a scale model would be scanned.
    let model = codec::read_model(&data("format-v1/bun_zipper_res4.glb")).unwrap();
    let a = model.mesh;
    let motion = DMat4::from_translation(DVec3::new(0.03, -0.01, 0.02))
        * DMat4::from_quat(DQuat::from_axis_angle(
            DVec3::new(0.2, 1.0, 0.1).normalize(),
            40f64.to_radians(),
        ))
        * DMat4::from_scale(DVec3::splat(0.5));
    let world = |m: &codec::Mesh, i: usize| {
        DVec3::from(m.positions[i].map(f64::from)) + DVec3::from(m.origin_m)
    };
    let b = codec::Mesh {
        positions: a
            .positions
            .iter()
            .map(|p| {
                let w = DVec3::from(p.map(f64::from)) + DVec3::from(a.origin_m);
                (motion.transform_point3(w) - DVec3::from(a.origin_m))
                    .as_vec3()
                    .to_array()
            })
            .collect(),
        ..a.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.glb"), dir.path().join("b.glb"));
    write(&a, &pa);
    write(&b, &pb);
    let (ma, mb) = (load_model(&pa, 0).unwrap(), load_model(&pb, 0).unwrap());
    // Four picked pairs, a little off (0.2 mm), as a hand on a mouse would pick them.
    let picks = [10usize, 120, 250, 400];
    let jitter = |k: usize| {
        DVec3::new(0.0002, -0.0001, 0.00015) * if k.is_multiple_of(2) { 1.0 } else { -1.0 }
    };
    let pairs_a: Vec<[f64; 3]> = picks
        .iter()
        .enumerate()
        .map(|(k, &i)| (world(&a, i) + jitter(k)).to_array())
        .collect();
    let pairs_b: Vec<[f64; 3]> = picks.iter().map(|&i| world(&b, i).to_array()).collect();
    let mut worst = Vec::new();
    for refine in [false, true] {
        let options = CompareOptions {
            align: Align::Pairs {
                a: pairs_a.clone(),
                b: pairs_b.clone(),
                refine,
            },
            scale: true,
            tolerance_mm: 0.1,
            ..CompareOptions::default()
        };
        let result = compare(&ma, &mb, &options).unwrap();
        assert!(
            (result.alignment.scale - 2.0).abs() < 0.01,
            "refine {refine}: {:?}",
            result.alignment
        );
        assert!(
            result.alignment.pairs_rms_mm.unwrap() < 0.5,
            "{:?}",
            result.alignment
        );
        worst.push(result.statistics.max_mm);
    }
    // From the pairs alone the surface fits to the picks' jitter; ICP then improves the rigid part (the scale
    // stays the pairs' estimate, which is what limits it).
    assert!(
        worst[0] < 1.0 && worst[1] < worst[0] && worst[1] < 0.3,
        "{worst:?}"
    );
    // Without pairs: the spread gives the scale, principal axes the start.
    let automatic = compare(
        &ma,
        &mb,
        &CompareOptions {
            scale: true,
            tolerance_mm: 0.1,
            ..CompareOptions::default()
        },
    )
    .unwrap();
    assert!(
        (automatic.alignment.scale - 2.0).abs() < 0.02,
        "{:?}",
        automatic.alignment
    );
    assert!(
        automatic.statistics.p95_mm < 0.5,
        "{:?}",
        automatic.statistics
    );
    // Two pairs, or three on a line, determine no motion: a clear error.
    let two = Align::Pairs {
        a: pairs_a[..2].to_vec(),
        b: pairs_b[..2].to_vec(),
        refine: false,
    };
    assert!(
        compare(
            &ma,
            &mb,
            &CompareOptions {
                align: two,
                ..CompareOptions::default()
            }
        )
        .unwrap_err()
        .contains("three or more")
    );
    let line: Vec<[f64; 3]> = (0..3).map(|k| [f64::from(k) * 0.01, 0.0, 0.0]).collect();
    let collinear = Align::Pairs {
        a: line.clone(),
        b: line,
        refine: false,
    };
    assert!(
        compare(
            &ma,
            &mb,
            &CompareOptions {
                align: collinear,
                ..CompareOptions::default()
            }
        )
        .unwrap_err()
        .contains("one line")
    );
}

/// A comparison saved to the store by the judge (`exhibit compare --store`), read back exactly, shared by
/// a link whose page shows its figures, heat map and histogram, and refused where it does not belong.
fn saved_comparison_scenario(backend: &crate::store_support::Backend) {
    use crate::store_support::{Court, Server, upload};
    use serde_json::json;

    let work = tempfile::tempdir().unwrap();
    let reference = icosphere(4, 0.05);
    let pole = DVec3::new(0.0, 0.05, 0.0);
    let accused = codec::Mesh {
        positions: reference
            .positions
            .iter()
            .map(|p| {
                let p = DVec3::from(p.map(f64::from));
                let lift = 0.001 * (1.0 - ((p - pole).length() / 0.02).min(1.0));
                (p + p.normalize() * lift).as_vec3().to_array()
            })
            .collect(),
        ..reference.clone()
    };
    let (pa, pb) = (
        work.path().join("accused.glb"),
        work.path().join("patent.glb"),
    );
    write(&accused, &pa);
    write(&reference, &pb);
    let server = Server::start(backend, &work.path().join("data"), &[]);
    let court = Court::set_up(&server);
    let accused_item = court.technician.create(
        &format!("/api/cases/{}/evidence", court.case),
        &json!({ "label": "被告产品 路灯", "kind": "accused_product", "submitted_by": "乙灯具厂" }),
    )["id"]
        .as_i64()
        .unwrap();
    let state = work.path().join("state");
    let timeout = std::time::Duration::from_secs(30);
    let a = upload(
        &court.technician,
        &pa,
        court.case,
        accused_item,
        "model",
        1 << 20,
        &state,
        timeout,
    )
    .unwrap();
    let b = upload(
        &court.technician,
        &pb,
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &state,
        timeout,
    )
    .unwrap();

    // The judge compares the two files as downloaded and saves the comparison in the case.
    let case = court.case.to_string();
    let (a_arg, b_arg) = (pa.to_str().unwrap(), pb.to_str().unwrap());
    let out = run_json(&mut exhibit(&[
        "compare",
        a_arg,
        b_arg,
        "--align",
        "none",
        "--tolerance-mm",
        "0.2",
        "--size",
        "480x270",
        "--store",
        &server.url,
        "--case",
        &case,
        "--token",
        &court.judge.token,
        "--json",
    ]));
    let id = out["saved"]["id"].as_i64().expect("a saved comparison id");
    assert!(
        out["saved"]["checkpoint"]["size"].as_u64().unwrap() > 0,
        "{out}"
    );

    // Anyone in the case reads back the record, the exact report and the heat map.
    let record = court.plaintiff.get(&format!("/api/comparisons/{id}"));
    assert_eq!(record.status, 200, "{}", record.text());
    let record = record.json();
    assert_eq!(record["a"], json!(a.sha256));
    assert_eq!(record["b"], json!(b.sha256));
    assert_eq!(record["created_by_role"], "judge");
    for field in [
        "mean_mm",
        "rms_mm",
        "p95_mm",
        "max_mm",
        "within_tolerance",
        "tolerance_mm",
    ] {
        assert_eq!(record["summary"][field], out[field], "{field}");
    }
    assert_eq!(record["summary"]["transform"], out["transform"]);
    let report = court
        .defendant
        .get(&format!("/api/comparisons/{id}/report.json"));
    assert_eq!(report.status, 200);
    assert_eq!(
        codec::manifest::sha256_hex(&report.body),
        record["report_sha256"].as_str().unwrap()
    );
    let report = report.json();
    assert_eq!(report["statistics"], out["statistics"]);
    assert_eq!(report["alignment"], out["alignment"]);
    let heat = court
        .judge
        .get(&format!("/api/comparisons/{id}/heat-map.png"));
    assert_eq!(heat.status, 200);
    let image = image::load_from_memory(&heat.body).unwrap();
    assert_eq!((image.width(), image.height()), (480, 270));
    let listed = court
        .judge
        .get(&format!("/api/cases/{case}/comparisons"))
        .json();
    assert_eq!(listed["comparisons"].as_array().unwrap().len(), 1);
    let events = court
        .judge
        .get(&format!("/api/cases/{case}/events"))
        .json()
        .to_string();
    assert!(
        events.contains("comparison_saved") && events.contains(&format!("comparison {id}")),
        "{events}"
    );

    // Where it does not belong: outsiders see nothing; bad reports are refused by field.
    assert_eq!(
        court
            .outside_judge
            .get(&format!("/api/comparisons/{id}"))
            .status,
        404
    );
    assert_eq!(
        court
            .outside_party
            .get(&format!("/api/comparisons/{id}/report.json"))
            .status,
        404
    );
    let path = format!("/api/cases/{case}/comparisons");
    assert_eq!(
        court
            .outside_judge
            .post(&path, &json!({ "report": report }))
            .status,
        404
    );
    let mut foreign = report.clone();
    foreign["b"]["sha256"] = json!("ab".repeat(32));
    let refused = court.judge.post(&path, &json!({ "report": foreign }));
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("report.b.sha256"),
        "{}",
        refused.text()
    );
    let mut short = report.clone();
    short["transform"].as_array_mut().unwrap().pop();
    let refused = court.judge.post(&path, &json!({ "report": short }));
    assert!(
        refused.status == 400 && refused.text().contains("report.transform"),
        "{}",
        refused.text()
    );
    let refused = court.judge.post(
        &path,
        &json!({ "report": report, "heat_map_png": "bm90IGEgcG5n" }),
    );
    assert!(
        refused.status == 400 && refused.text().contains("not a PNG"),
        "{}",
        refused.text()
    );
    // A party may file its own comparison; it is recorded as the party's.
    let filed = court.plaintiff.create(&path, &json!({ "report": report }));
    assert_eq!(filed["created_by_role"], "party");
    assert_eq!(filed["heat_map"], json!(null));

    // Shared by link: the page shows the figures, the heat map and the histogram; each part is logged.
    let qr = work.path().join("comparison-qr.png");
    let comparison_id = id.to_string();
    let shared = run_json(&mut exhibit(&[
        "share",
        "--comparison",
        &comparison_id,
        "--store",
        &server.url,
        "--token",
        &court.judge.token,
        "--expires",
        "1h",
        "--qr",
        qr.to_str().unwrap(),
        "--json",
    ]));
    let url = shared["url"].as_str().unwrap().to_owned();
    assert_eq!(shared["model"], json!(a.sha256));
    assert_eq!(shared["other"], json!(b.sha256));
    assert_eq!(crate::store::decode_qr(&std::fs::read(&qr).unwrap()), url);
    let visitor = court.judge.with_token("");
    let page = visitor.get(&url);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("data-key=\"comparison\"") && html.contains("data-key=\"histogram\""),
        "{html}"
    );
    let max = format!("max {:.4} mm", out["max_mm"].as_f64().unwrap());
    assert!(html.contains(&max), "{max} not in the page");
    let within = format!(
        "{:.2} % within",
        out["within_tolerance"].as_f64().unwrap() * 100.0
    );
    assert!(html.contains(&within), "{within} not in the page");
    assert_eq!(visitor.get(&format!("{url}/heat-map.png")).body, heat.body);
    let linked_report = visitor.get(&format!("{url}/comparison.json"));
    assert_eq!(
        codec::manifest::sha256_hex(&linked_report.body),
        record["report_sha256"].as_str().unwrap()
    );
    assert_eq!(
        visitor.get(&format!("{url}/other.glb")).body,
        std::fs::read(&pb).unwrap()
    );
    // A link to one model has no comparison parts.
    let plain = court
        .judge
        .create("/api/shares", &json!({ "model": a.sha256 }));
    assert_eq!(
        visitor
            .get(&format!("{}/heat-map.png", plain["url"].as_str().unwrap()))
            .status,
        404
    );
    // A comparison link names its models itself.
    let both = court.judge.post(
        "/api/shares",
        &json!({ "comparison": id, "model": a.sha256 }),
    );
    assert_eq!(both.status, 400, "{}", both.text());
    // Revoked: every part says so.
    let revoked = court.judge.send(
        "DELETE",
        &format!("/api/shares/{}", shared["id"]),
        &[],
        Vec::new(),
    );
    assert_eq!(revoked.status, 204);
    assert_eq!(visitor.get(&format!("{url}/heat-map.png")).status, 410);
    assert_eq!(visitor.get(&format!("{url}/comparison.json")).status, 410);

    // The case report lists both comparisons; the transfer bundle carries them, checked, to the court of
    // appeal, where they open with their exact reports and say who saved them first.
    let report_page = court.judge.get(&format!("/api/cases/{case}/report")).text();
    assert!(
        report_page.contains("比对 Comparisons (2)"),
        "{report_page}"
    );
    assert!(report_page.contains(record["report_sha256"].as_str().unwrap()));
    let bundle = court.judge.get(&format!("/api/cases/{case}/bundle"));
    assert_eq!(bundle.status, 200);
    let trial_key = court.admin.get("/api/log/checkpoint").json()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = store::services::bundle::verify(&bundle.body, Some(&trial_key)).unwrap();
    assert_eq!(verified.header.comparisons.len(), 2);
    // A report swapped for another inside the header is named, even before the seal is checked.
    let mut swapped = serde_json::to_value(&verified.header).unwrap();
    swapped["comparisons"][0]["a"] = json!(b.sha256);
    let text = serde_json::to_vec(&swapped).unwrap();
    let mut forged = store::services::bundle::MAGIC.to_vec();
    forged.extend_from_slice(format!("{}\n", text.len()).as_bytes());
    forged.extend_from_slice(&text);
    for (_, blob) in &verified.blobs {
        forged.extend_from_slice(blob);
    }
    forged.extend_from_slice(b"\nSIG AAAA\n");
    let problems = store::services::bundle::verify(&forged, Some(&trial_key))
        .unwrap_err()
        .join("; ");
    assert!(
        problems.contains(&format!("comparison {id}: its report is not about model a")),
        "{problems}"
    );
    let appeal = Server::start(
        &crate::store_support::Backend::Embedded,
        &work.path().join("appeal"),
        &["--trust-court", &trial_key],
    );
    let appeal_admin = court
        .admin
        .at(&appeal.url)
        .with_token(&appeal.admin_token());
    let imported = appeal_admin.send(
        "POST",
        "/api/transfers",
        &[("content-type", "application/octet-stream")],
        bundle.body.clone(),
    );
    assert_eq!(imported.status, 201, "{}", imported.text());
    let new_case = imported.json()["case"].as_i64().unwrap();
    let moved = appeal_admin
        .get(&format!("/api/cases/{new_case}/comparisons"))
        .json();
    let first = &moved["comparisons"][0];
    assert_eq!(first["report_sha256"], record["report_sha256"]);
    assert_eq!(
        first["summary"]["saved_in_origin"]["role"], "judge",
        "{first}"
    );
    let moved_report = appeal_admin.get(&format!("/api/comparisons/{}/report.json", first["id"]));
    assert_eq!(
        codec::manifest::sha256_hex(&moved_report.body),
        record["report_sha256"].as_str().unwrap()
    );
}

#[test]
fn a_saved_comparison_on_the_embedded_store() {
    saved_comparison_scenario(&crate::store_support::Backend::Embedded);
}

#[test]
fn a_saved_comparison_on_postgres_and_s3() {
    saved_comparison_scenario(&crate::store_support::Backend::shared());
}

/// A small deterministic generator (splitmix64) with Gaussian draws (Box–Muller), so the test's scan is the same
/// on every machine.
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The inverse of a symmetric positive definite 6×6 matrix (Gauss–Jordan elimination with partial pivoting).
fn inverse6(m: &[[f64; 6]; 6]) -> [[f64; 6]; 6] {
    let mut a = *m;
    let mut inv = [[0.0; 6]; 6];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..6 {
        let pivot = (col..6)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for k in 0..6 {
            a[col][k] /= d;
            inv[col][k] /= d;
        }
        for row in 0..6 {
            if row != col {
                let f = a[row][col];
                for k in 0..6 {
                    a[row][k] -= f * a[col][k];
                    inv[row][k] -= f * inv[col][k];
                }
            }
        }
    }
    inv
}

/// A simulated scan of the bunny: points drawn uniformly over its triangles (so none is a vertex of the model),
/// one side cut away (80 % overlap), Gaussian noise of 0.05 % of the diagonal, moved by 5° and 2 % of the
/// diagonal; optionally with a region raised by 1.5 mm (a part that really differs). The fit must land within
/// four Cramér–Rao standard deviations of the truth: the spread that noise alone allows any unbiased fit of
/// these points to this surface, worked out here from the true normals at the true points.
fn registers_a_noisy_scan_to_the_noise_floor(with_a_raised_part: bool) {
    let ply =
        std::fs::read(crate::support::root().join("assets/stanford-bunny/bun_zipper.ply")).unwrap();
    let raw =
        ingest::parse_scan(ingest::ScanFormat::Ply, &ply, Path::new("bun_zipper.ply")).unwrap();
    let vertices: Vec<DVec3> = raw.positions.iter().map(|p| DVec3::from(*p)).collect();
    let (low, high) = vertices.iter().fold(
        (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
        |(l, h), p| (l.min(*p), h.max(*p)),
    );
    let diagonal = (high - low).length();
    let sigma = 0.0005 * diagonal;
    let triangles: Vec<[DVec3; 3]> = raw
        .indices
        .chunks_exact(3)
        .map(|t| [0, 1, 2].map(|k| vertices[t[k] as usize]))
        .collect();
    let areas: Vec<f64> = triangles
        .iter()
        .map(|[a, b, c]| (*b - *a).cross(*c - *a).length())
        .collect();
    let total: f64 = areas.iter().sum();
    let mut cumulative = Vec::with_capacity(areas.len());
    let mut running = 0.0;
    for area in &areas {
        running += area / total;
        cumulative.push(running);
    }
    let mut draws = Draws(7);
    let cut = DVec3::new(0.3, -0.5, 0.8).normalize();
    let raised = DVec3::new(-0.6, 0.2, 0.77).normalize();
    let centre = (low + high) * 0.5;
    // (true point, its surface normal, whether it is raised)
    let mut samples: Vec<(DVec3, DVec3, bool)> = Vec::new();
    while samples.len() < 30_000 {
        let pick = draws.uniform();
        let t = cumulative
            .partition_point(|&c| c < pick)
            .min(triangles.len() - 1);
        let [a, b, c] = triangles[t];
        let normal = (b - a).cross(c - a).normalize_or_zero();
        if normal == DVec3::ZERO {
            continue;
        }
        let (r1, r2) = (draws.uniform().sqrt(), draws.uniform());
        let p = a * (1.0 - r1) + b * (r1 * (1.0 - r2)) + c * (r1 * r2);
        if (p - centre).dot(cut) > 0.35 * diagonal * 0.5 {
            continue;
        }
        let up = with_a_raised_part && (p - centre).normalize().dot(raised) > 0.9;
        samples.push((p, normal, up));
    }
    let centroid = samples.iter().map(|s| s.0).sum::<DVec3>() / samples.len() as f64;
    let truth_rotation =
        DQuat::from_axis_angle(DVec3::new(0.4, -1.0, 0.7).normalize(), 5f64.to_radians());
    let motion = DMat4::from_translation(
        centroid + DVec3::new(1.0, 2.0, -2.0).normalize() * 0.02 * diagonal,
    ) * DMat4::from_quat(truth_rotation)
        * DMat4::from_translation(-centroid);
    let raised_count = samples.iter().filter(|s| s.2).count();
    if with_a_raised_part {
        assert!(raised_count > 500, "only {raised_count} points raised");
    }
    let scan: Vec<[f32; 3]> = samples
        .iter()
        .map(|&(p, n, up)| {
            let lifted = if up { p + n * 0.0015 } else { p };
            let noise = DVec3::new(draws.gaussian(), draws.gaussian(), draws.gaussian()) * sigma;
            (motion.transform_point3(lifted + noise) - centroid)
                .as_vec3()
                .to_array()
        })
        .collect();
    // The information a point-to-surface fit gets from the points that are not raised: Σ J Jᵀ / σ².
    let mut information = [[0.0; 6]; 6];
    for &(p, n, up) in &samples {
        if up {
            continue;
        }
        let c = p.cross(n);
        let j = [c.x, c.y, c.z, n.x, n.y, n.z];
        for r in 0..6 {
            for k in 0..6 {
                information[r][k] += j[r] * j[k] / (sigma * sigma);
            }
        }
    }
    let covariance = inverse6(&information);
    let bound_deg = (covariance[0][0] + covariance[1][1] + covariance[2][2])
        .sqrt()
        .to_degrees();
    // The centroid moves by t + ω × c = G x with G = [−[c]ₓ | I]; its spread is √trace(G C Gᵀ).
    let skew = |v: DVec3| [[0.0, -v.z, v.y], [v.z, 0.0, -v.x], [-v.y, v.x, 0.0]];
    let minus_cx = skew(-centroid);
    let g: Vec<[f64; 6]> = (0..3)
        .map(|r| {
            let mut row = [0.0; 6];
            row[..3].copy_from_slice(&minus_cx[r]);
            row[3 + r] = 1.0;
            row
        })
        .collect();
    let centroid_bound_m = g
        .iter()
        .map(|row| {
            (0..6)
                .flat_map(|i| (0..6).map(move |k| (i, k)))
                .map(|(i, k)| row[i] * covariance[i][k] * row[k])
                .sum::<f64>()
        })
        .sum::<f64>()
        .sqrt();

    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("model.glb"), dir.path().join("scan.glb"));
    let origin = (low + high) * 0.5;
    let model = codec::Mesh {
        origin_m: origin.to_array(),
        positions: vertices
            .iter()
            .map(|p| (*p - origin).as_vec3().to_array())
            .collect(),
        indices: raw.indices.clone(),
        ..codec::Mesh::default()
    };
    write(&model, &pa);
    let cloud = codec::PointCloud {
        origin_m: centroid.to_array(),
        positions: scan,
        ..codec::PointCloud::default()
    };
    let encoded = codec::encode_point_cloud_glb(
        &cloud,
        &codec::EncodeConfig { precision_m: 1e-6 },
        codec::Provenance::default(),
    )
    .unwrap();
    std::fs::write(&pb, encoded.glb).unwrap();
    let (ma, mb) = (load_model(&pa, 0).unwrap(), load_model(&pb, 0).unwrap());
    let result = compare(&ma, &mb, &CompareOptions::default()).unwrap();
    let found = DMat4::from_cols_array(&result.alignment.transform);
    // The fit should undo the motion: found · motion = identity.
    let residual = found * motion;
    let (_, residual_rotation, _) = residual.to_scale_rotation_translation();
    let error_deg = residual_rotation.to_axis_angle().1.to_degrees();
    let error_deg = error_deg.min(360.0 - error_deg);
    let translation_error = residual.transform_point3(centroid) - centroid;
    eprintln!(
        "rotation error {error_deg:.6}° (Cramér–Rao spread {bound_deg:.6}°), centroid off by {:.5} mm \
         (spread {:.5} mm), {raised_count} raised, inliers {:.3}",
        translation_error.length() * 1e3,
        centroid_bound_m * 1e3,
        result.alignment.inlier_share
    );
    assert!(
        error_deg < 4.0 * bound_deg,
        "rotation off by {error_deg}°, noise allows {bound_deg}°: {:?}",
        result.alignment
    );
    assert!(
        translation_error.length() < 4.0 * centroid_bound_m,
        "centroid off by {} mm, noise allows {} mm",
        translation_error.length() * 1e3,
        centroid_bound_m * 1e3
    );
}

#[test]
fn a_noisy_partial_scan_is_registered_to_the_noise_floor() {
    registers_a_noisy_scan_to_the_noise_floor(false);
}

#[test]
fn a_raised_part_does_not_pull_the_registration_off_the_noise_floor() {
    registers_a_noisy_scan_to_the_noise_floor(true);
}

/// A reconstruction from two views (the back of the bunny filled in by the surface reconstruction, flagged
/// not measured) against the complete bunny, both in the Stanford frame, so the right alignment is the
/// identity. The complete model's points that face the invented back must not pull the fit: before the fit
/// ignored invented surface (and kept its robust scale from growing) it drifted by 2.3° and 8.8 mm.
#[test]
fn invented_surface_does_not_pull_the_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let views = dir.path().join("views.glb");
    let full = dir.path().join("full.glb");
    run_json(&mut exhibit(&[
        "ingest",
        data("stanford_bunny/bun.conf").to_str().unwrap(),
        "-o",
        views.to_str().unwrap(),
        "--json",
    ]));
    run_json(&mut exhibit(&[
        "ingest",
        crate::support::root()
            .join("assets/stanford-bunny/bun_zipper.ply")
            .to_str()
            .unwrap(),
        "-o",
        full.to_str().unwrap(),
        "--json",
    ]));
    let (a, b) = (
        load_model(&views, 0).unwrap(),
        load_model(&full, 0).unwrap(),
    );
    let invented = a.color_flag.iter().filter(|c| c[3] == 0).count();
    assert!(
        invented * 50 > a.positions.len(),
        "the two-view model should have invented surface: {invented} of {}",
        a.positions.len()
    );
    let result = compare(&a, &b, &CompareOptions::default()).unwrap();
    let alignment = &result.alignment;
    assert!(
        alignment.rotation_deg < 0.1 && alignment.translation_mm < 0.3,
        "the complete bunny was moved off the Stanford frame: {alignment:?}"
    );
    // The deviations that involve the invented back are counted and said, not passed off as measured.
    let share = result.statistics.invented_share;
    let flagged = result.invented.iter().filter(|i| **i).count();
    assert!(
        flagged >= invented && (0.01..0.5).contains(&share),
        "{flagged} deviations flagged ({invented} unmeasured vertices), share {share}"
    );
    assert!((share - flagged as f64 / result.invented.len() as f64).abs() < 1e-12);

    // Saved in a case and shared by link, the page says it too.
    let server = crate::store_support::Server::start(
        &crate::store_support::Backend::Embedded,
        &dir.path().join("data"),
        &[],
    );
    let court = crate::store_support::Court::set_up(&server);
    for file in [&views, &full] {
        crate::store_support::upload(
            &court.technician,
            file,
            court.case,
            court.evidence,
            "model",
            1 << 20,
            &dir.path().join("state"),
            std::time::Duration::from_secs(30),
        )
        .unwrap();
    }
    let case = court.case.to_string();
    let out = run_json(&mut exhibit(&[
        "compare",
        views.to_str().unwrap(),
        full.to_str().unwrap(),
        "--store",
        &server.url,
        "--case",
        &case,
        "--token",
        &court.judge.token,
        "--json",
    ]));
    assert_eq!(
        out["statistics"]["invented_share"],
        serde_json::json!(share)
    );
    let id = out["saved"]["id"].as_i64().unwrap().to_string();
    let shared = run_json(&mut exhibit(&[
        "share",
        "--comparison",
        &id,
        "--store",
        &server.url,
        "--token",
        &court.judge.token,
        "--json",
    ]));
    let page = court
        .judge
        .with_token("")
        .get(shared["url"].as_str().unwrap())
        .text();
    let said = format!(
        "{:.2} % measured against surface a reconstruction filled in",
        share * 100.0
    );
    assert!(page.contains(&said), "{said} not on the share page");
}

/// A model that is all filled-in surface gives ICP nothing to align by: the comparison says so rather than
/// record an alignment with no points behind it. Compared as placed, it still measures.
#[test]
fn a_model_without_measured_surface_is_not_aligned_to() {
    let mut a = icosphere(3, 0.05);
    a.measured = Some(vec![false; a.positions.len()]);
    let b = icosphere(3, 0.05);
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.glb"), dir.path().join("b.glb"));
    write(&a, &pa);
    write(&b, &pb);
    let (ma, mb) = (load_model(&pa, 0).unwrap(), load_model(&pb, 0).unwrap());
    let refused = compare(&ma, &mb, &CompareOptions::default()).unwrap_err();
    assert!(refused.contains("nothing to align by"), "{refused}");
    let placed = compare(
        &ma,
        &mb,
        &CompareOptions {
            align: Align::None,
            ..CompareOptions::default()
        },
    )
    .unwrap();
    assert_eq!(placed.statistics.invented_share, 1.0);
}
