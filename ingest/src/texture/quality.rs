//! How far an image is from its source, on the pixels: PSNR and largest absolute error per channel, and the
//! structural similarity (SSIM) of the luma. Sums run over fixed blocks in a fixed order, so the figures are the
//! same on any number of threads.

use codec::ImageLoss;
use image::RgbaImage;
use rayon::prelude::*;

/// SSIM window side, in texels (non-overlapping windows).
const WINDOW: u32 = 8;

/// Compare `image` with `source` (same size; the caller resamples first).
///
/// # Panics
/// Never for images of the same size; the sizes are checked by the caller's construction.
#[must_use]
pub fn compare(source: &RgbaImage, image: &RgbaImage) -> ImageLoss {
    debug_assert_eq!(source.dimensions(), image.dimensions());
    let (width, height) = source.dimensions();
    let rows: Vec<RowSums> = (0..height)
        .into_par_iter()
        .map(|y| {
            let mut sums = RowSums::default();
            for x in 0..width {
                let a = source.get_pixel(x, y).0;
                let b = image.get_pixel(x, y).0;
                for c in 0..4 {
                    let d = a[c].abs_diff(b[c]);
                    sums.max[c] = sums.max[c].max(d);
                    if c < 3 {
                        sums.squared[c] += u64::from(d) * u64::from(d);
                    }
                }
            }
            sums
        })
        .collect();
    let mut squared = [0u64; 3];
    let mut max_abs_error = [0u8; 4];
    for row in &rows {
        for c in 0..4 {
            max_abs_error[c] = max_abs_error[c].max(row.max[c]);
            if c < 3 {
                squared[c] += row.squared[c];
            }
        }
    }
    let pixels = f64::from(width) * f64::from(height);
    let psnr_db = squared.map(|s| {
        (s > 0).then(|| {
            let mse = s as f64 / pixels;
            10.0 * (255.0 * 255.0 / mse).log10()
        })
    });
    ImageLoss {
        lossless: max_abs_error == [0; 4],
        psnr_db,
        max_abs_error,
        ssim: ssim(source, image),
        source_size: [width, height],
    }
}

#[derive(Default)]
struct RowSums {
    squared: [u64; 3],
    max: [u8; 4],
}

/// Mean SSIM of the luma (Rec. 709 weights on the sRGB values, as the usual image tools do) over windows.
fn ssim(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let (width, height) = a.dimensions();
    let luma =
        |p: [u8; 4]| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]);
    let c1 = (0.01f64 * 255.0).powi(2);
    let c2 = (0.03f64 * 255.0).powi(2);
    let window = WINDOW.min(width).min(height);
    let (columns, rows) = (width / window, height / window);
    let per_row: Vec<f64> = (0..rows)
        .into_par_iter()
        .map(|wy| {
            let mut total = 0.0;
            for wx in 0..columns {
                let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for y in wy * window..(wy + 1) * window {
                    for x in wx * window..(wx + 1) * window {
                        let (la, lb) = (luma(a.get_pixel(x, y).0), luma(b.get_pixel(x, y).0));
                        sa += la;
                        sb += lb;
                        saa += la * la;
                        sbb += lb * lb;
                        sab += la * lb;
                    }
                }
                let n = f64::from(window * window);
                let (ma, mb) = (sa / n, sb / n);
                let (va, vb) = (saa / n - ma * ma, sbb / n - mb * mb);
                let cov = sab / n - ma * mb;
                total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                    / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            }
            total
        })
        .collect();
    let windows = f64::from(columns * rows);
    if windows == 0.0 {
        return 1.0;
    }
    per_row.iter().sum::<f64>() / windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(width: u32, height: u32, shift: u8) -> RgbaImage {
        RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([
                ((x * 7 + y * 3) % 256) as u8,
                ((x ^ y) % 256) as u8,
                ((x * y) % 251) as u8 / 2 + shift,
                255,
            ])
        })
    }

    #[test]
    fn identical_images_are_lossless_and_a_change_is_measured() {
        let a = pattern(64, 48, 0);
        let same = compare(&a, &a);
        assert!(same.lossless);
        assert_eq!(same.psnr_db, [None; 3]);
        assert!((same.ssim - 1.0).abs() < 1e-12);
        let b = pattern(64, 48, 3);
        let changed = compare(&a, &b);
        assert!(!changed.lossless);
        assert_eq!(changed.max_abs_error, [0, 0, 3, 0]);
        assert_eq!(changed.psnr_db[0], None);
        // Every blue value is 3 off: MSE 9, PSNR 10 log10(255² / 9).
        let expected = 10.0 * (255.0f64 * 255.0 / 9.0).log10();
        assert!((changed.psnr_db[2].unwrap() - expected).abs() < 1e-9);
        assert!(changed.ssim < 1.0 && changed.ssim > 0.9);
    }
}
