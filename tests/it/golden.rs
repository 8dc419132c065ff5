//! Golden images: compare a rendered picture with a committed PNG, within one tolerance for every test.
//!
//! Lavapipe draws the same bytes every run; the tolerance is for other Mesa/LLVM versions and GPUs, which move
//! edge pixels a little. On a mismatch the test writes `NAME.new.png` (what was drawn) and `NAME.diff.png`
//! (differing pixels in red over a faded copy) beside the golden file. `UPDATE_GOLDEN=1` rewrites the golden
//! files instead of comparing.

use std::path::PathBuf;

use image::RgbaImage;

/// A pixel differs when any channel is off by more than this (of 255).
const CHANNEL_TOLERANCE: u8 = 24;
/// The test fails when more than this share of the pixels differ.
const PIXEL_SHARE_TOLERANCE: f64 = 0.005;

fn golden_dir() -> PathBuf {
    crate::support::root().join("tests/golden")
}

/// Compare `image`, drawn on `backend` (`vulkan`, `gl`), with the one golden `tests/golden/NAME.png`, within the
/// same tolerance: every backend must draw the same picture. Baselines come from lavapipe (Vulkan) only, so
/// `UPDATE_GOLDEN=1` rewrites them from that backend alone; a mismatch writes `NAME.BACKEND.new.png`.
pub fn assert_matches_golden_on(name: &str, backend: Option<&str>, image: &RgbaImage) {
    let path = golden_dir().join(format!("{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if backend.is_none_or(|b| b == "vulkan") {
            image.save(&path).unwrap();
        }
        return;
    }
    let stem = match backend {
        Some(backend) => format!("{name}.{backend}"),
        None => name.to_owned(),
    };
    let name = stem.as_str();
    let new_path = golden_dir().join(format!("{name}.new.png"));
    let diff_path = golden_dir().join(format!("{name}.diff.png"));
    let Ok(golden) = image::open(&path) else {
        image.save(&new_path).unwrap();
        panic!(
            "no golden image {}: wrote {} (look at it; rename it to accept, or run with UPDATE_GOLDEN=1)",
            path.display(),
            new_path.display()
        );
    };
    let golden = golden.to_rgba8();
    let (differing, diff) = difference(&golden, image);
    let total = f64::from(image.width()) * f64::from(image.height());
    if golden.dimensions() != image.dimensions() || differing as f64 / total > PIXEL_SHARE_TOLERANCE
    {
        image.save(&new_path).unwrap();
        if let Some(diff) = diff {
            diff.save(&diff_path).unwrap();
        }
        panic!(
            "{name}: {differing} of {total} pixels differ by more than {CHANNEL_TOLERANCE} (allowed: {:.1} %); sizes {:?} vs {:?}; wrote {} and {}",
            PIXEL_SHARE_TOLERANCE * 100.0,
            golden.dimensions(),
            image.dimensions(),
            new_path.display(),
            diff_path.display()
        );
    }
    let _ = std::fs::remove_file(new_path);
    let _ = std::fs::remove_file(diff_path);
}

/// How many pixels differ beyond the tolerance, and a picture of where.
fn difference(golden: &RgbaImage, image: &RgbaImage) -> (usize, Option<RgbaImage>) {
    if golden.dimensions() != image.dimensions() {
        return (usize::MAX / 2, None);
    }
    let mut diff = RgbaImage::new(image.width(), image.height());
    let mut differing = 0;
    for ((a, b), d) in golden.pixels().zip(image.pixels()).zip(diff.pixels_mut()) {
        let off =
            a.0.iter()
                .zip(&b.0)
                .any(|(x, y)| x.abs_diff(*y) > CHANNEL_TOLERANCE);
        if off {
            differing += 1;
            *d = image::Rgba([255, 0, 0, 255]);
        } else {
            let grey = (u16::from(b.0[0]) + u16::from(b.0[1]) + u16::from(b.0[2])) / 12;
            *d = image::Rgba([grey as u8, grey as u8, grey as u8, 255]);
        }
    }
    (differing, Some(diff))
}

#[test]
fn the_comparison_finds_a_changed_patch_and_ignores_noise() {
    let base = RgbaImage::from_fn(100, 100, |x, y| {
        image::Rgba([(x * 2) as u8, (y * 2) as u8, 90, 255])
    });
    let mut noisy = base.clone();
    for p in noisy.pixels_mut() {
        p.0[0] = p.0[0].saturating_add(10);
    }
    assert_eq!(difference(&base, &noisy).0, 0);
    let mut patched = base.clone();
    for y in 0..10 {
        for x in 0..10 {
            patched.put_pixel(x, y, image::Rgba([255, 255, 255, 255]));
        }
    }
    assert_eq!(difference(&base, &patched).0, 100);
}
