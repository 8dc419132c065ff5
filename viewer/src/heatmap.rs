//! The deviation heat map: a diverging colour scale (blue inside, red outside, neutral within the
//! tolerance) and its legend drawn onto the picture.

use image::{Rgba, RgbaImage};

use crate::overlay::{draw_text, fill, text_width};

/// Colour for a signed deviation: neutral grey within ±`tolerance_mm`, then from pale to saturated red
/// (positive: A outside B) or blue (negative) at ±`range_mm` and beyond.
#[must_use]
pub fn color(deviation_mm: f64, tolerance_mm: f64, range_mm: f64) -> [u8; 3] {
    const NEUTRAL: [f64; 3] = [205.0, 205.0, 200.0];
    const PALE: [f64; 3] = [247.0, 247.0, 247.0];
    const RED: [f64; 3] = [178.0, 24.0, 43.0];
    const BLUE: [f64; 3] = [33.0, 102.0, 172.0];
    if !deviation_mm.is_finite() {
        return [0, 0, 0];
    }
    let magnitude = deviation_mm.abs();
    if magnitude <= tolerance_mm {
        return NEUTRAL.map(|c| c as u8);
    }
    let t = ((magnitude - tolerance_mm) / (range_mm - tolerance_mm).max(1e-12)).clamp(0.0, 1.0);
    let end = if deviation_mm > 0.0 { RED } else { BLUE };
    // A pale start makes "just beyond the tolerance" visibly different from "within it".
    let start = [0, 1, 2].map(|i| PALE[i] + (end[i] - PALE[i]) * 0.25);
    [0, 1, 2].map(|i| (start[i] + (end[i] - start[i]) * t).round() as u8)
}

fn label(value: f64) -> String {
    let text = if value == 0.0 {
        "0".to_string()
    } else {
        let decimals = if value.abs() >= 10.0 {
            0
        } else if value.abs() >= 1.0 {
            1
        } else {
            2
        };
        format!("{value:+.decimals$}")
    };
    format!("{text} mm")
}

/// Draw the legend at the right edge: the colour bar from +range (top) to −range (bottom) with the values
/// of its ends, the tolerance band and zero.
pub fn draw_legend(image: &mut RgbaImage, tolerance_mm: f64, range_mm: f64) {
    let mut marks = vec![range_mm, 0.0, -range_mm];
    if tolerance_mm > 0.0 && tolerance_mm < range_mm * 0.8 {
        marks.extend([tolerance_mm, -tolerance_mm]);
    }
    draw_scale(
        image,
        (range_mm, -range_mm),
        |value| color(value, tolerance_mm, range_mm),
        &marks,
        (label, &label(-range_mm)),
    );
}

/// A colour scale at the right edge of a picture: a bar from `high` (top) to `low` (bottom) coloured by
/// `colour`, on black, with a tick and a label (`label`) at each mark; room is made for the `widest` label.
pub fn draw_scale(
    image: &mut RgbaImage,
    (high, low): (f64, f64),
    colour: impl Fn(f64) -> [u8; 3],
    marks: &[f64],
    (label, widest): (impl Fn(f64) -> String, &str),
) {
    let scale = if image.height() >= 600 { 2 } else { 1 };
    let (width, height) = (i64::from(image.width()), i64::from(image.height()));
    let label_width = i64::from(text_width(widest, scale));
    let bar_width = 10 * i64::from(scale);
    let x = width - label_width - bar_width - 16 * i64::from(scale);
    let top = height / 8;
    let bottom = height - height / 8;
    fill(
        image,
        x - 6,
        top - 10,
        width - x,
        bottom - top + 20,
        Rgba([0, 0, 0, 255]),
    );
    let span = (bottom - top).max(1) as f64;
    for y in top..bottom {
        let value = high - (high - low) * (y - top) as f64 / span;
        let [r, g, b] = colour(value);
        fill(image, x, y, bar_width, 1, Rgba([r, g, b, 255]));
    }
    let white = Rgba([255, 255, 255, 255]);
    for &value in marks {
        let y = top + ((high - value) / (high - low) * span).round() as i64;
        fill(image, x + bar_width, y, 4, 1, white);
        draw_text(
            image,
            x + bar_width + 6,
            y - 3 * i64::from(scale),
            &label(value),
            scale,
            white,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_neutral_within_tolerance_and_saturates_at_the_range() {
        assert_eq!(color(0.2, 0.5, 2.0), color(-0.5, 0.5, 2.0));
        assert_eq!(color(2.0, 0.5, 2.0), [178, 24, 43]);
        assert_eq!(color(-9.0, 0.5, 2.0), [33, 102, 172]);
        let just_out = color(0.51, 0.5, 2.0);
        assert_ne!(just_out, color(0.49, 0.5, 2.0));
        assert_eq!(label(-2.0), "-2.0 mm");
        assert_eq!(label(0.5), "+0.50 mm");
    }
}
