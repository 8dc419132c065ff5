//! The hearing-room window, for real: Xvfb (a virtual X display), `exhibit view` drawing through wgpu
//! (lavapipe when there is no GPU), and a screenshot of the whole screen taken with `ImageMagick`'s `import`.
//! `.ci/run` installs xvfb and imagemagick.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::data;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) {
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success(),
        "{name} is not installed (apt-get install xvfb imagemagick; scripts/test does it)"
    );
}

/// Start Xvfb on a free display and return it with the display name.
/// The whole screen of `display` as a PNG at `shot` (ImageMagick's `import`).
fn photograph(display: &str, shot: &std::path::Path) {
    let status = Command::new("import")
        .args([
            "-display",
            display,
            "-window",
            "root",
            shot.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "import failed");
}

fn xvfb() -> (Killed, String) {
    tool("Xvfb");
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut number = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        number.push(byte[0] as char);
    }
    assert!(!number.trim().is_empty(), "Xvfb did not report its display");
    (Killed(child), format!(":{}", number.trim()))
}

/// A window showing `model` under a fresh Xvfb, with `env` set, once it has drawn the full model and the screen
/// shows it: the Xvfb, the window, its log and the screenshot.
fn open_window(
    dir: &std::path::Path,
    model: &std::path::Path,
    env: &[(&str, &str)],
) -> (Killed, String, Killed, std::path::PathBuf, image::RgbaImage) {
    let (xvfb, display) = xvfb();
    let log = dir.join("view.log");
    let runtime = dir.join("xdg");
    let _ = std::fs::create_dir(&runtime);
    #[cfg(unix)]
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&runtime).unwrap().permissions(),
        0o700,
    );
    let viewer = Killed(
        Command::new(env!("CARGO_BIN_EXE_exhibit"))
            .args([
                "view",
                model.to_str().unwrap(),
                "--lang",
                "en",
                "--size",
                "1200x760",
            ])
            .env("DISPLAY", &display)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("WAYLAND_DISPLAY")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    // Wait until the app says it drew the full model (it loads the coarsest level first when there are several).
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("drew level 0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_mins(2),
            "the window never drew the model; its log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Give the compositor-less X server a moment to show the presented frame, then photograph the screen.
    let shot = dir.join("screen.png");
    let mut image = None;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        photograph(&display, &shot);
        let picture = image::open(&shot).unwrap().to_rgba8();
        if model_share(&picture) > 0.05 {
            image = Some(picture);
            break;
        }
    }
    let picture = image.unwrap_or_else(|| {
        let kept = crate::support::root().join("target/desktop-screen.png");
        let _ = std::fs::copy(&shot, &kept);
        panic!(
            "the model is not visible in the screenshot (kept as {}); the log:\n{}",
            kept.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    (xvfb, display, viewer, log, picture)
}

/// Issue 18: on a machine with Mesa's OpenGL and no Vulkan driver the window draws through wgpu's GL backend,
/// which cannot view the sRGB picture as plain bytes; it must show the same picture as on Vulkan (it showed it
/// too dark before the window got a plain copy).
#[test]
fn regression_18_the_window_draws_the_same_picture_on_gl_as_on_vulkan() {
    tool("import");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bunny.glb");
    std::fs::copy(data("format-v1/bun_zipper_res4.glb"), &model).unwrap();
    let vulkan_dir = dir.path().join("vulkan");
    let gl_dir = dir.path().join("gl");
    std::fs::create_dir_all(&vulkan_dir).unwrap();
    std::fs::create_dir_all(&gl_dir).unwrap();
    let vulkan = open_window(&vulkan_dir, &model, &[("WGPU_BACKEND", "vulkan")]).4;
    let gl = open_window(
        &gl_dir,
        &model,
        &[
            ("WGPU_BACKEND", "gl"),
            ("VK_ICD_FILENAMES", "/nonexistent/no-vulkan-driver.json"),
        ],
    )
    .4;
    // The viewport, right of the panel: the model and its background.
    let (mut sum, mut count) = (0u64, 0u64);
    for y in 40..700 {
        for x in 400..1150 {
            let (a, b) = (vulkan.get_pixel(x, y), gl.get_pixel(x, y));
            sum += (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>();
            count += 3;
        }
    }
    let mean = sum as f64 / count as f64;
    assert!(
        mean < 3.0,
        "the window on GL differs from Vulkan by {mean:.2}/255 on average"
    );
}

#[test]
fn the_window_opens_a_model_and_draws_it_under_xvfb() {
    tool("import");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bunny.glb");
    std::fs::copy(data("format-v1/bun_zipper_res4.glb"), &model).unwrap();
    let (_xvfb, display, _viewer, log, picture) = open_window(dir.path(), &model, &[]);
    // The panel on the left has text: many distinct shades where egui drew letters.
    let mut shades = std::collections::HashSet::new();
    for y in 0..700 {
        for x in 0..300 {
            shades.insert(picture.get_pixel(x, y).0);
        }
    }
    assert!(
        shades.len() > 20,
        "the panel looks empty ({} shades)",
        shades.len()
    );

    // Real input through X: focus the window, press D (distance), click two points on the model, press S
    // (screenshot with scale bar). The app says on stderr what it measured and where it saved the picture.
    tool("xdotool");
    let xdotool = |args: &[&str]| {
        let output = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &display)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    focus_window(&display);
    // The model fills the middle of the viewport, right of the panel.
    xdotool(&["mousemove", "770", "380"]);
    xdotool(&["key", "d"]);
    std::thread::sleep(Duration::from_millis(300));
    // Press and release with a pause between: a click inside one slow frame can be lost.
    for (x, y) in [(700, 420), (860, 420)] {
        xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
        std::thread::sleep(Duration::from_millis(200));
        xdotool(&["mousedown", "1"]);
        std::thread::sleep(Duration::from_millis(150));
        xdotool(&["mouseup", "1"]);
        std::thread::sleep(Duration::from_millis(500));
    }
    xdotool(&["key", "s"]);
    let started = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("measured distance") && text.contains("saved ") {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "no measurement or screenshot; the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let line = text
        .lines()
        .find(|l| l.contains("measured distance"))
        .unwrap();
    let label = line.split("measured distance ").nth(1).unwrap();
    let (value, rest) = label.split_once(" ± ").unwrap();
    let value: f64 = value.parse().unwrap();
    assert!(rest.ends_with(" mm"), "{line}");
    // 160 pixels across a bunny 151 mm long that fills most of a 760-pixel-high view.
    assert!((20.0..120.0).contains(&value), "{line}");
    let saved = dir.path().join("bunny.view-1.png");
    assert!(
        text.contains(&format!("saved {}", saved.display())),
        "{text}"
    );
    let picture = image::open(&saved).unwrap().to_rgba8();
    let bottom = picture.height() - 1;
    // The scale bar: white pixels in the bottom left corner.
    let white = (0..60)
        .flat_map(|dy| (0..200).map(move |x| (x, bottom - dy)))
        .filter(|&(x, y)| picture.get_pixel(x, y).0[..3] == [255, 255, 255])
        .count();
    assert!(white > 50, "no scale bar in {}", saved.display());
}

/// Give the exhibit window the keyboard. Right after its first frame it may not be mapped yet: try for a while.
fn focus_window(display: &str) {
    let output = Command::new("xdotool")
        .args(["search", "--name", "exhibit"])
        .env("DISPLAY", display)
        .output()
        .unwrap();
    let windows = String::from_utf8_lossy(&output.stdout).to_string();
    let focused = (0..50).any(|_| {
        let done = windows.lines().any(|id| {
            Command::new("xdotool")
                .args(["windowfocus", "--sync", id])
                .env("DISPLAY", display)
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success()
        });
        if !done {
            std::thread::sleep(Duration::from_millis(200));
        }
        done
    });
    assert!(focused, "cannot focus the window among {windows:?}");
}

/// The share of the viewport (right of the panel) whose colour is far from the viewport's background,
/// sampled at its bottom right corner.
fn model_share(picture: &image::RgbaImage) -> f64 {
    let background = picture.get_pixel(1150, 740).0;
    let (mut differing, mut total) = (0usize, 0usize);
    for y in (40..740).step_by(4) {
        for x in (420..1150).step_by(4) {
            total += 1;
            let p = picture.get_pixel(x, y).0;
            if p.iter()
                .zip(&background)
                .take(3)
                .any(|(a, b)| a.abs_diff(*b) > 40)
            {
                differing += 1;
            }
        }
    }
    differing as f64 / total as f64
}

#[test]
fn two_models_open_side_by_side_are_aligned_and_switch_layouts() {
    tool("import");
    tool("xdotool");
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.glb");
    std::fs::copy(data("format-v1/bun_zipper_res4.glb"), &a).unwrap();
    let (_xvfb, display) = xvfb();
    let log = dir.path().join("view.log");
    let _viewer = Killed(
        Command::new(env!("CARGO_BIN_EXE_exhibit"))
            .args([
                "view",
                a.to_str().unwrap(),
                a.to_str().unwrap(),
                "--lang",
                "zh",
                "--size",
                "1200x760",
            ])
            .env("DISPLAY", &display)
            .env("XDG_RUNTIME_DIR", dir.path())
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let wait_for = |needle: &str| {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_mins(2),
                "no {needle:?}; the log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // A model against itself: aligned without motion, no deviation.
    let text = wait_for("compared:");
    let line = text.lines().find(|l| l.contains("compared:")).unwrap();
    assert!(
        line.contains("rotation 0.000°") && line.contains("max 0.0000 mm"),
        "{line}"
    );
    assert!(line.contains("100.0 % within"), "{line}");
    let xdotool = |args: &[&str]| {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &display)
            .status()
            .unwrap();
        assert!(status.success(), "xdotool {args:?}");
    };
    focus_window(&display);
    xdotool(&["mousemove", "800", "400"]);
    // Align by hand: the Pairs tool (P), three points on A's pane then the same places on B's (the panes show
    // the same model with the same camera), then L: the alignment by pairs finds no motion.
    xdotool(&["key", "p"]);
    std::thread::sleep(Duration::from_millis(300));
    // Press and release with a pause between, and wait for each pair before the next: on a loaded machine
    // lavapipe's frames are slow, and a click that starts and ends between two frames can be lost.
    for (n, (dx, dy)) in [(0, 0), (-30, 40), (40, -30)].into_iter().enumerate() {
        for centre in [560, 987] {
            xdotool(&[
                "mousemove",
                &(centre + dx).to_string(),
                &(380 + dy).to_string(),
            ]);
            std::thread::sleep(Duration::from_millis(200));
            xdotool(&["mousedown", "1"]);
            std::thread::sleep(Duration::from_millis(150));
            xdotool(&["mouseup", "1"]);
            std::thread::sleep(Duration::from_millis(400));
        }
        wait_for(&format!("pair {} picked", n + 1));
    }
    xdotool(&["key", "l"]);
    let text = wait_for("aligning by 3 picked pairs");
    let started = Instant::now();
    while std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("compared:")
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "no alignment by pairs; the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let by_pairs = text
        .lines()
        .filter(|l| l.contains("compared:"))
        .nth(1)
        .unwrap();
    // The same model twice: the picked pairs are only as exact as the clicks, ICP then converges to a step of
    // under 1e-6 of the size (0.15 µm here), so the largest deviation left is a fraction of a micrometre.
    let max_mm: f64 = by_pairs
        .split("max ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no maximum in {by_pairs:?}"));
    assert!(
        by_pairs.contains("rotation 0.000°") && max_mm < 0.0005,
        "{by_pairs}"
    );
    xdotool(&["key", "Escape"]);
    for layout in ["Swipe", "Overlay", "Heat", "Colour", "SixViews"] {
        xdotool(&["key", "m"]);
        wait_for(&format!("layout {layout}"));
    }
    // The colour difference of a model against itself (vertex colours: one grey): nothing above the tolerance.
    let line = wait_for_line(&log, "colour difference:");
    assert!(
        line.contains("0.00 % of") && line.contains("(vertices)"),
        "{line}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let shot = dir.path().join("screen.png");
    photograph(&display, &shot);
    let picture = image::open(&shot).unwrap().to_rgba8();
    // The six views of both: models in every cell of the grid.
    assert!(
        model_share(&picture) > 0.05,
        "the six views are not visible"
    );
}

/// Wait for a line in the window's stderr log that contains `needle`; the line.
fn wait_for_line(log: &std::path::Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_mins(2),
            "the window never said {needle:?}; its log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn share_in_the_window_asks_the_store_and_shows_a_qr_code_of_the_current_view() {
    use crate::store_support::{Backend, Court, Server, upload};
    tool("import");
    tool("xdotool");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bunny.glb");
    std::fs::copy(data("format-v1/bun_zipper_res4.glb"), &model).unwrap();
    let server = Server::start(&Backend::Embedded, &dir.path().join("data"), &[]);
    let court = Court::set_up(&server);
    let uploaded = upload(
        &court.technician,
        &model,
        court.case,
        court.evidence,
        "model",
        1 << 20,
        &dir.path().join("state"),
        Duration::from_secs(30),
    )
    .unwrap();
    let (_xvfb, display) = xvfb();
    let log = dir.path().join("view.log");
    let runtime = dir.path().join("xdg");
    std::fs::create_dir(&runtime).unwrap();
    let _viewer = Killed(
        Command::new(env!("CARGO_BIN_EXE_exhibit"))
            .args([
                "view",
                model.to_str().unwrap(),
                "--lang",
                "en",
                "--size",
                "1200x760",
                "--store",
                &server.url,
                "--expires",
                "1h",
            ])
            .env("EXHIBIT_TOKEN", &court.judge.token)
            .env("DISPLAY", &display)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_line(&log, "drew level 0");
    focus_window(&display);
    // Turn to the front view (1), then share (Q).
    let key = |k: &str| {
        let status = Command::new("xdotool")
            .args(["key", k])
            .env("DISPLAY", &display)
            .status()
            .unwrap();
        assert!(status.success());
    };
    key("1");
    std::thread::sleep(Duration::from_millis(500));
    key("q");
    let line = wait_for_line(&log, "exhibit view: shared ");
    let url = line.split("shared ").nth(1).unwrap().trim().to_owned();
    // Issue 18: the link is short (no camera in it) so its QR code stays a small symbol; the camera is stored
    // with the link, and its page hands it to the live viewer.
    assert!(
        url.starts_with(&format!("{}/s/", server.url)) && !url.contains('#') && url.len() <= 80,
        "{url}"
    );
    let page = court.judge.with_token("").get(&url);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(&uploaded.sha256));
    let stored = html
        .split("data-key=\"view\">")
        .nth(1)
        .and_then(|rest| rest.split("</td>").next())
        .expect("the page shows the view stored with the link");
    let camera: serde_json::Value = serde_json::from_str(
        &stored
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap();
    assert!(camera["orientation"].is_array() && camera["distance"].as_f64().unwrap() > 0.0);
    // The QR code on the screen is that link.
    let shot = dir.path().join("screen.png");
    let mut decoded = None;
    let mut seen: (usize, Option<String>) = (0, None);
    // Up to a minute: on a loaded machine (the whole suite at once on two cores) lavapipe draws the QR window
    // slowly.
    let started = Instant::now();
    while started.elapsed() < Duration::from_mins(1) {
        std::thread::sleep(Duration::from_millis(500));
        photograph(&display, &shot);
        let luma = image::open(&shot).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(luma);
        let grids = prepared.detect_grids();
        seen = (grids.len(), None);
        if let Some(text) = grids.iter().find_map(|g| match g.decode() {
            Ok((meta, text)) => {
                assert!(meta.version.0 <= 10, "QR version {}", meta.version.0);
                Some(text)
            }
            Err(e) => {
                seen.1 = Some(format!("{e:?}"));
                None
            }
        }) {
            decoded = Some(text);
            break;
        }
    }
    // On failure, the last screen is kept beside the test's log to look at.
    let kept = std::env::temp_dir().join("exhibit-share-qr-last-screen.png");
    if decoded.as_deref() != Some(url.as_str()) {
        let _ = std::fs::copy(&shot, &kept);
    }
    assert_eq!(
        decoded.as_deref(),
        Some(url.as_str()),
        "no QR code of the link on the screen (last screen: {} grid(s) found, decode error {:?}; kept at {}); \
         the viewer's log:\n{}",
        seen.0,
        seen.1,
        kept.display(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
