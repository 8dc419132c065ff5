//! The web viewer in a real browser: Debian's chromium, headless, driven by playwright-core
//! (tests/js/web_viewer.mjs), against a real `exhibit serve` with the wasm viewer built by scripts/build-web.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::store_support::{Backend, COURT_PASSWORD, Court, Server, upload};
use super::support::{exhibit, root, run_json};
use super::textures::printed_red;

/// The built web viewer; scripts/test builds it before the tests run.
pub(crate) fn web_dist() -> PathBuf {
    let dist = root().join("web/dist");
    assert!(
        dist.join("exhibit_web_bg.wasm").is_file() && dist.join("viewer.js").is_file(),
        "the web viewer is not built: run scripts/build-web (scripts/test does)"
    );
    dist
}

/// Run tests/js/web_viewer.mjs; its JSON report.
pub(crate) fn browse(url: &str, out: &Path, flags: &[&str]) -> Value {
    let output = std::process::Command::new("node")
        .arg(root().join("tests/js/web_viewer.mjs"))
        .arg(url)
        .arg(out)
        .args(flags)
        .output()
        .expect("node runs (scripts/test installs Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
            panic!(
                "web_viewer.mjs printed no JSON: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(
        report.get("failure").is_none(),
        "the browser run failed: {report}"
    );
    report
}

/// Upload `model` to the court's case as its technician (resumable state under `work`).
fn upload_model(court: &Court, model: &Path, work: &Path) -> ingest::upload::UploadReceipt {
    upload(
        &court.technician,
        model,
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &work.join("state"),
        Duration::from_secs(30),
    )
    .unwrap()
}

/// A share link (the store's answer) to a model version that opens at the front view, valid for an hour.
fn front_view_link(court: &Court, sha256: &str) -> Value {
    court.judge.create(
        "/api/shares",
        &json!({ "model": sha256, "view": "front", "expires_in_s": 3600 }),
    )
}

/// `exhibit render --view front` of `model` at the size of the canvas a browser run reports, written to `to`.
fn front_render(model: &Path, report: &Value, to: &Path) -> image::RgbaImage {
    let (width, height) = (
        report["canvas"]["width"].as_u64().unwrap(),
        report["canvas"]["height"].as_u64().unwrap(),
    );
    run_json(&mut exhibit(&[
        "render",
        model.to_str().unwrap(),
        "-o",
        to.to_str().unwrap(),
        "--view",
        "front",
        "--size",
        &format!("{width}x{height}"),
        "--json",
    ]));
    image::open(to).unwrap().to_rgba8()
}

/// Mean absolute difference per channel (0..255) and the share of pixels differing by more than 48 in any
/// channel, over the part both pictures cover (an element's screenshot may round up by a pixel).
fn difference(a: &image::RgbaImage, b: &image::RgbaImage) -> (f64, f64) {
    let (width, height) = (a.width().min(b.width()), a.height().min(b.height()));
    assert!(
        a.width().abs_diff(b.width()) <= 1 && a.height().abs_diff(b.height()) <= 1,
        "pictures of different sizes: {:?} and {:?}",
        a.dimensions(),
        b.dimensions()
    );
    let (mut sum, mut far) = (0u64, 0u64);
    for y in 0..height {
        for x in 0..width {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            let d: Vec<u64> = (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).collect();
            sum += d.iter().sum::<u64>();
            far += u64::from(d.iter().any(|&v| v > 48));
        }
    }
    let n = f64::from(width * height);
    (sum as f64 / (3.0 * n), far as f64 / n)
}

#[test]
fn a_share_link_opens_the_live_viewer_in_a_real_browser() {
    let dist = web_dist();
    let work = tempfile::tempdir().unwrap();
    // A model with levels of detail, as ingest writes it.
    let model = work.path().join("bunny.glb");
    run_json(&mut exhibit(&[
        "ingest",
        root()
            .join("assets/stanford-bunny/bun_zipper.ply")
            .to_str()
            .unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--json",
    ]));
    let server = Server::start(
        &Backend::Embedded,
        &work.path().join("data"),
        &["--web-dir", dist.to_str().unwrap()],
    );
    let court = Court::set_up(&server);
    let uploaded = upload_model(&court, &model, work.path());
    let link = front_view_link(&court, &uploaded.sha256);
    let url = link["url"].as_str().unwrap().to_owned();
    // The view is stored with the link, not carried in it; the page hands it to the viewer, which must open
    // at the front view (the picture is compared with `exhibit render --view front` below).
    assert!(!url.contains('#'), "{url}");

    // Desktop: the first frame is the coarsest level, then the model; the picture is `exhibit render`'s.
    let desktop = work.path().join("desktop");
    std::fs::create_dir(&desktop).unwrap();
    let report = browse(&url, &desktop, &[]);
    assert_eq!(report["state"], "shown", "{report}");
    assert_eq!(report["level"], "0", "{report}");
    assert!(
        report["adapter"].as_str().unwrap().contains("SwiftShader"),
        "{report}"
    );
    let first: u64 = report["firstFrameMs"].as_str().unwrap().parse().unwrap();
    let full: u64 = report["fullDetailMs"].as_str().unwrap().parse().unwrap();
    assert!(first <= full, "{report}");
    let status = report["viewer_status"].as_str().unwrap();
    assert!(
        status.contains("geometry matches its manifest") && status.contains("full model"),
        "{status}"
    );
    let native = front_render(&model, &report, &work.path().join("reference.png"));
    let web = image::open(desktop.join("canvas.png")).unwrap().to_rgba8();
    let (mean, far) = difference(&web, &native);
    assert!(
        mean < 4.0 && far < 0.01,
        "the browser's frame differs from exhibit render's: mean {mean:.2}/255, {:.2} % of pixels far off ({report})",
        far * 100.0
    );

    // The same through WebGPU (Chromium's, on SwiftShader's Vulkan): the same picture.
    let webgpu = work.path().join("webgpu");
    std::fs::create_dir(&webgpu).unwrap();
    let report = browse(&url, &webgpu, &["--webgpu"]);
    assert_eq!(report["state"], "shown", "{report}");
    assert!(
        report["adapter"].as_str().unwrap().contains("WebGpu"),
        "{report}"
    );
    let web = image::open(webgpu.join("canvas.png")).unwrap().to_rgba8();
    let (mean, far) = difference(&web, &native);
    assert!(
        mean < 4.0 && far < 0.01,
        "WebGPU's frame differs from exhibit render's: mean {mean:.2}/255, {:.2} % far off",
        far * 100.0
    );

    // Phone on a slow link (200 KB/s): the coarsest level is drawn from the first bytes of the file while
    // the rest downloads; then one finger turns the model.
    let phone = work.path().join("phone");
    std::fs::create_dir(&phone).unwrap();
    let report = browse(
        &url,
        &phone,
        &["--phone", "--touch-orbit", "--throttle", "200"],
    );
    assert_eq!(report["state"], "shown", "{report}");
    let first: u64 = report["firstFrameMs"].as_str().unwrap().parse().unwrap();
    let full: u64 = report["fullDetailMs"].as_str().unwrap().parse().unwrap();
    assert_ne!(report["firstLevel"], "0", "{report}");
    let preview_at: u64 = report["previewBytes"]
        .as_str()
        .unwrap_or_else(|| panic!("no view before the download ended: {report}"))
        .parse()
        .unwrap();
    let file: u64 = report["fileBytes"].as_str().unwrap().parse().unwrap();
    assert!(
        preview_at < file / 2 && first < full,
        "the first view came after {preview_at} of {file} bytes: {report}"
    );
    assert!(
        report["canvas"]["width"].as_u64().unwrap() <= 390,
        "{report}"
    );
    let before = image::open(phone.join("canvas.png")).unwrap().to_rgba8();
    let after = image::open(phone.join("canvas-after.png"))
        .unwrap()
        .to_rgba8();
    let (_, changed) = difference(&before, &after);
    assert!(
        changed > 0.02,
        "one finger did not turn the model: {:.3} % changed",
        changed * 100.0
    );
    // Two fingers spreading apart zoom in: more of the screen is model.
    let pinched = image::open(phone.join("canvas-pinch.png"))
        .unwrap()
        .to_rgba8();
    let background = after.get_pixel(2, 2).0;
    let model_share = |img: &image::RgbaImage| {
        img.pixels()
            .filter(|p| {
                p.0.iter()
                    .zip(&background)
                    .take(3)
                    .any(|(a, b)| a.abs_diff(*b) > 30)
            })
            .count() as f64
            / f64::from(img.width() * img.height())
    };
    assert!(
        model_share(&pinched) > model_share(&after) * 1.2,
        "pinching did not zoom in: {:.3} -> {:.3}",
        model_share(&after),
        model_share(&pinched)
    );

    // Every opening is a custody event (the page and the model it loads).
    let events = court
        .judge
        .get(&format!("/api/cases/{}/events", court.case))
        .json()
        .to_string();
    assert!(events.matches("share_viewed").count() >= 2, "{events}");
    assert!(events.matches("share_download").count() >= 2, "{events}");

    // The QR code on the page is the link with its view.
    let qr = court.judge.get(&format!(
        "{}/qr.png",
        url.split('#').next().unwrap().trim_end_matches('/')
    ));
    assert_eq!(qr.status, 200);
    assert_eq!(crate::store::decode_qr(&qr.body), url);

    // A saved comparison (the same bunny written without levels of detail, compared by the judge) opens with
    // both models live, one camera, three layouts, and the saved heat map.
    let second = work.path().join("bunny-one-level.glb");
    run_json(&mut exhibit(&[
        "ingest",
        root()
            .join("assets/stanford-bunny/bun_zipper.ply")
            .to_str()
            .unwrap(),
        "-o",
        second.to_str().unwrap(),
        "--lod",
        "1",
        "--json",
    ]));
    upload_model(&court, &second, work.path());
    let case = court.case.to_string();
    let saved = run_json(&mut exhibit(&[
        "compare",
        model.to_str().unwrap(),
        second.to_str().unwrap(),
        "--size",
        "640x360",
        "--store",
        &server.url,
        "--case",
        &case,
        "--token",
        &court.judge.token,
        "--json",
    ]));
    let comparison = court.judge.create(
        "/api/shares",
        &json!({ "comparison": saved["saved"]["id"], "expires_in_s": 3600 }),
    );
    let compared = work.path().join("compared");
    std::fs::create_dir(&compared).unwrap();
    let report = browse(
        comparison["url"].as_str().unwrap(),
        &compared,
        &["--compare"],
    );
    assert_eq!(report["second_shown"], true, "{report}");
    assert_eq!(
        report["heat_map"],
        json!({ "complete": true, "width": 640, "height": 360 }),
        "{report}"
    );
    assert_eq!(
        report["layouts"],
        json!(["side", "swipe", "overlay", "heat", "colour"])
    );
    // Two scans of one untextured bunny: no colour differs.
    assert_eq!(report["colour"]["share_above_tolerance"], 0.0, "{report}");
    // The heat map in the browser is measured again with the saved transform: the saved figures.
    for field in ["mean_mm", "rms_mm", "p95_mm", "max_mm", "within_tolerance"] {
        let (browser, saved_value) = (
            report["heat"][field].as_f64().unwrap(),
            saved[field].as_f64().unwrap(),
        );
        assert!(
            (browser - saved_value).abs() <= 1e-6,
            "{field}: browser {browser}, saved {saved_value}"
        );
    }
    assert!(
        report["legend"].as_str().unwrap().contains("mm"),
        "{report}"
    );
    let heat = image::open(compared.join("compare-heat.png"))
        .unwrap()
        .to_rgba8();
    let plain = image::open(compared.join("compare-side.png"))
        .unwrap()
        .to_rgba8();
    let (_, changed) = difference(&heat, &plain);
    assert!(
        changed > 0.02,
        "the heat map looks like the plain side by side"
    );
    let side = image::open(compared.join("compare-side.png"))
        .unwrap()
        .to_rgba8();
    let overlay = image::open(compared.join("compare-overlay.png"))
        .unwrap()
        .to_rgba8();
    // Side by side shows two bunnies in grey clay; the overlay one scene in A's warm clay.
    let warm = |img: &image::RgbaImage| {
        img.pixels()
            .filter(|p| i32::from(p[0]) - i32::from(p[2]) > 25)
            .count() as f64
            / f64::from(img.width() * img.height())
    };
    assert!(
        warm(&overlay) > 0.05 && warm(&side) < 0.01,
        "overlay {:.3}, side {:.3}",
        warm(&overlay),
        warm(&side)
    );

    // The case page, signed in as the plaintiff's lawyer: evidence, versions with their confirmation,
    // the saved comparison and the custody timeline; a version opens in the live viewer.
    let confirm = court.plaintiff.post(
        &format!("/api/versions/{}/confirmations", uploaded.sha256),
        &json!({ "decision": "confirm" }),
    );
    assert_eq!(confirm.status, 201, "{}", confirm.text());
    let page = work.path().join("case");
    std::fs::create_dir(&page).unwrap();
    let report = browse(
        &format!("{}/cases/{}", server.url, court.case),
        &page,
        &["--case-page", "原告代理人 Zhao", COURT_PASSWORD],
    );
    assert!(report["error"].is_null(), "{report}");
    // Signed in with name and password through the page's form: the session cookie is HttpOnly, Secure and
    // SameSite=Strict, out of the page script's reach.
    assert_eq!(report["cookie_visible_to_script"], false, "{report}");
    assert_eq!(
        report["session_cookie"],
        json!({ "httpOnly": true, "secure": true, "sameSite": "Strict" }),
        "{report}"
    );
    let evidence = report["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("原告专利 路灯")
            && evidence.contains(&uploaded.sha256)
            && evidence.contains("confirms")
            && evidence.contains("signature verifies"),
        "{evidence}"
    );
    assert!(
        report["comparisons"]
            .as_str()
            .unwrap()
            .contains(saved["a"]["sha256"].as_str().unwrap()),
        "{report}"
    );
    let timeline = report["timeline"].as_str().unwrap();
    assert!(
        timeline.contains("comparison_saved") && timeline.contains("confirmation"),
        "{timeline}"
    );
    assert_eq!(report["state"], "shown", "{report}");
    // Someone else's case is not there for them.
    let other = browse(
        &format!("{}/cases/{}", server.url, court.other_case),
        &page,
        &["--case-page", "原告代理人 Zhao", COURT_PASSWORD],
    );
    assert!(
        other["error"]
            .as_str()
            .unwrap_or("")
            .contains("no such case"),
        "{other}"
    );

    // Revoked: the browser gets a page that says so, with 410.
    let revoked = court.judge.send(
        "DELETE",
        &format!("/api/shares/{}", link["id"]),
        &[],
        Vec::new(),
    );
    assert_eq!(revoked.status, 204);
    let closed = work.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    let report = browse(&url, &closed, &["--expect-closed"]);
    assert_eq!(report["status"], 410, "{report}");
    assert!(
        report["text"].as_str().unwrap().contains("revoked"),
        "{report}"
    );
}

/// Issue 18: where the live viewer cannot load (here its wasm is damaged), the share page says so in both
/// languages, hides the empty canvas and shows the rendered picture; a store without a complete viewer warns at
/// start-up and serves pages with the picture alone.
#[test]
fn regression_18_a_share_page_whose_viewer_cannot_load_says_so_and_shows_the_picture() {
    let dist = web_dist();
    let work = tempfile::tempdir().unwrap();
    let broken = work.path().join("broken-web");
    std::fs::create_dir(&broken).unwrap();
    for file in ["exhibit_web.js", "viewer.js", "case.js"] {
        std::fs::copy(dist.join(file), broken.join(file)).unwrap();
    }
    std::fs::write(
        broken.join("exhibit_web_bg.wasm"),
        b"<html>not a wasm module</html>",
    )
    .unwrap();
    let model = work.path().join("bunny.glb");
    run_json(&mut exhibit(&[
        "ingest",
        root()
            .join("assets/stanford-bunny/bun_zipper.ply")
            .to_str()
            .unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--json",
    ]));
    let server = Server::start(
        &Backend::Embedded,
        &work.path().join("data"),
        &["--web-dir", broken.to_str().unwrap(), "--previews"],
    );
    let court = Court::set_up(&server);
    let uploaded = upload_model(&court, &model, work.path());
    let link = court.judge.create(
        "/api/shares",
        &json!({ "model": uploaded.sha256, "expires_in_s": 3600 }),
    );
    let url = link["url"].as_str().unwrap().to_owned();
    let seen = browse(&url, work.path(), &["--expect-unavailable"]);
    let status = seen["viewer_status"].as_str().unwrap();
    assert!(
        status.contains("实时三维视图无法载入")
            && status.contains("The live 3D view cannot load here"),
        "{seen}"
    );
    assert_eq!(seen["canvas_visible"], false, "{seen}");
    assert_eq!(seen["section_state"], "failed", "{seen}");
    assert_eq!(
        seen["picture"]["width"], 800,
        "the rendered picture shows: {seen}"
    );
    assert_eq!(seen["picture"]["visible"], true, "{seen}");

    // A viewer folder missing a file is refused at start-up with a warning naming it; pages show the picture.
    let partial = work.path().join("partial-web");
    std::fs::create_dir(&partial).unwrap();
    std::fs::copy(dist.join("viewer.js"), partial.join("viewer.js")).unwrap();
    let second = Server::start(
        &Backend::Embedded,
        &work.path().join("data2"),
        &["--web-dir", partial.to_str().unwrap()],
    );
    let log = second.log();
    assert!(
        log.contains("warning: no web viewer") && log.contains("exhibit_web_bg.wasm"),
        "{log}"
    );
    let anonymous = super::store_support::Api::new(&second.url, "");
    assert_eq!(anonymous.get("/app/viewer.js").status, 404);
}

/// A textured scan (the YCB cracker box) through the store to the browser: the print is drawn by the same
/// renderer on WebGL2, WebGPU and a phone, and matches `exhibit render`'s picture.
#[test]
fn a_textured_box_shows_its_print_in_a_real_browser() {
    let dist = web_dist();
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("box.glb");
    run_json(&mut exhibit(&[
        "ingest",
        super::support::data("textured/ycb_003_cracker_box/textured.obj")
            .to_str()
            .unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--json",
    ]));
    let server = Server::start(
        &Backend::Embedded,
        &work.path().join("data"),
        &["--web-dir", dist.to_str().unwrap()],
    );
    let court = Court::set_up(&server);
    let uploaded = upload_model(&court, &model, work.path());
    let url = front_view_link(&court, &uploaded.sha256)["url"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, flags) in [("webgl2", &[][..]), ("webgpu", &["--webgpu"][..])] {
        let out = work.path().join(name);
        std::fs::create_dir(&out).unwrap();
        let report = browse(&url, &out, flags);
        assert_eq!(report["state"], "shown", "{name}: {report}");
        assert_eq!(report["level"], "0", "{name}: {report}");
        let native = front_render(
            &model,
            &report,
            &work.path().join(format!("{name}-reference.png")),
        );
        let web = image::open(out.join("canvas.png")).unwrap().to_rgba8();
        assert!(
            printed_red(&web) > 10_000,
            "{name}: the red print shows: {}",
            printed_red(&web)
        );
        let (mean, far) = difference(&web, &native);
        assert!(
            mean < 4.0 && far < 0.02,
            "{name}: the browser's textured frame differs from exhibit render's: mean {mean:.2}/255, {:.2} % far off ({report})",
            far * 100.0
        );
    }
    // A phone: the coarser level's smaller texture first, then the model with the scanner's own image.
    let phone = work.path().join("phone");
    std::fs::create_dir(&phone).unwrap();
    let report = browse(&url, &phone, &["--phone"]);
    assert_eq!(report["state"], "shown", "{report}");
    assert_eq!(report["level"], "0", "{report}");
    assert_eq!(report["textures"], "1", "{report}");
    let full: u64 = report["gpuBytes"].as_str().unwrap().parse().unwrap();
    // The 4096² atlas with its mipmaps: 4096² × 4 × 4/3 bytes, plus the geometry.
    assert!(full > 89_000_000 && full < 92_000_000, "{report}");
    let picture = image::open(phone.join("canvas.png")).unwrap().to_rgba8();
    assert!(
        printed_red(&picture) > 2_000,
        "the phone shows the print: {}",
        printed_red(&picture)
    );
    // The same box with a repainted print, saved as a comparison: the page's colour layout finds the change, as
    // `exhibit compare --colour` does.
    let changed = work.path().join("changed.glb");
    let (changed_obj, _) = super::textures::repainted_box(work.path());
    run_json(&mut exhibit(&[
        "ingest",
        changed_obj.to_str().unwrap(),
        "-o",
        changed.to_str().unwrap(),
        "--json",
    ]));
    upload_model(&court, &changed, work.path());
    let saved = run_json(&mut exhibit(&[
        "compare",
        changed.to_str().unwrap(),
        model.to_str().unwrap(),
        "--colour",
        "--size",
        "640x360",
        "--store",
        &server.url,
        "--case",
        &court.case.to_string(),
        "--token",
        &court.judge.token,
        "--json",
    ]));
    let link = court.judge.create(
        "/api/shares",
        &json!({ "comparison": saved["saved"]["id"], "expires_in_s": 3600 }),
    );
    let compared = work.path().join("compared");
    std::fs::create_dir(&compared).unwrap();
    let report = browse(link["url"].as_str().unwrap(), &compared, &["--compare"]);
    assert_eq!(report["second_shown"], true, "{report}");
    let browser = report["colour"]["share_above_tolerance"].as_f64().unwrap();
    let cli = saved["colour"]["share_above_tolerance"].as_f64().unwrap();
    assert!(
        browser > 0.01 && (browser - cli).abs() < 0.002,
        "browser {browser}, exhibit compare {cli}"
    );
    let map = image::open(compared.join("compare-colour.png"))
        .unwrap()
        .to_rgba8();
    let hot = map
        .pixels()
        .filter(|p| p.0[0] > 140 && p.0[1] < 60 && p.0[2] < 70)
        .count();
    assert!(hot > 200, "the changed print shows red on the page: {hot}");
    assert!(
        report["legend"].as_str().unwrap().contains("CIEDE2000"),
        "{report}"
    );

    // A phone that says it has 0.5 GB: a model may take 64 MB, so the page keeps the level whose 2048² texture
    // fits, says why, and still shows the print.
    let small = work.path().join("small-phone");
    std::fs::create_dir(&small).unwrap();
    let report = browse(&url, &small, &["--phone", "--device-memory", "0.5"]);
    assert_eq!(report["state"], "shown", "{report}");
    assert_eq!(report["level"], "1", "{report}");
    let fits: u64 = report["gpuBytes"].as_str().unwrap().parse().unwrap();
    assert!(fits < 64 << 20, "{report}");
    assert!(
        report["limited"]
            .as_str()
            .unwrap()
            .contains("budget is 64 MB"),
        "{report}"
    );
    let picture = image::open(small.join("canvas.png")).unwrap().to_rgba8();
    assert!(
        printed_red(&picture) > 2_000,
        "the small phone shows the print: {}",
        printed_red(&picture)
    );
}
