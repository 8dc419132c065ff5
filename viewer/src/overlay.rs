//! Marks drawn onto a finished picture on the CPU: the scale bar of a screenshot and short labels, in a small
//! built-in bitmap font, so a headless render needs no font files and stays byte-identical everywhere.

use image::{Rgba, RgbaImage};

/// 5 × 7 glyphs, one row per byte (bit 4 is the leftmost column).
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '±' => [0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x1F],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '°' => [0x0C, 0x12, 0x12, 0x0C, 0x00, 0x00, 0x00],
        '²' => [0x0C, 0x12, 0x04, 0x08, 0x1E, 0x00, 0x00],
        ' ' => [0; 7],
        _ => return None,
    })
}

/// Width in pixels of `text` at `scale`.
#[must_use]
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * 6 * scale
}

/// Draw `text` with its top left at (x, y); characters the font lacks are drawn as a box.
pub fn draw_text(image: &mut RgbaImage, x: i64, y: i64, text: &str, scale: u32, color: Rgba<u8>) {
    let scale = i64::from(scale.max(1));
    let mut left = x;
    for c in text.chars() {
        let rows = glyph(c).unwrap_or([0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F]);
        for (row, bits) in (0i64..).zip(rows.iter()) {
            for column in 0..5 {
                if bits & (0x10 >> column) != 0 {
                    fill(
                        image,
                        left + column * scale,
                        y + row * scale,
                        scale,
                        scale,
                        color,
                    );
                }
            }
        }
        left += 6 * scale;
    }
}

/// Fill a rectangle, clipped to the picture.
pub fn fill(image: &mut RgbaImage, x: i64, y: i64, width: i64, height: i64, color: Rgba<u8>) {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    for py in y.max(0)..(y + height).min(h) {
        for px in x.max(0)..(x + width).min(w) {
            image.put_pixel(px as u32, py as u32, color);
        }
    }
}

/// The scale bar drawn on a picture: its length and label.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ScaleBar {
    /// Length the bar stands for, millimetres.
    pub mm: f64,
    /// Its length on the picture, pixels.
    pub pixels: f64,
    /// The label, e.g. `20 mm`.
    pub label: String,
}

/// The largest round length (1, 2 or 5 × 10ⁿ mm) no longer than a fifth of the picture's width.
#[must_use]
pub fn scale_bar_for(metres_per_pixel: f64, width: u32) -> Option<ScaleBar> {
    if metres_per_pixel <= 0.0 || !metres_per_pixel.is_finite() {
        return None;
    }
    let mm_per_pixel = metres_per_pixel * 1e3;
    let budget = mm_per_pixel * f64::from(width) / 5.0;
    let exponent = budget.log10().floor();
    let base = 10f64.powf(exponent);
    let mm = [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&mm| mm <= budget)?;
    let label = if mm >= 1000.0 {
        format!("{} m", trim(mm / 1000.0))
    } else {
        format!("{} mm", trim(mm))
    };
    Some(ScaleBar {
        mm,
        pixels: mm / mm_per_pixel,
        label,
    })
}

fn trim(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Draw the bar in the bottom left corner: a white bar with end ticks and its label, on a dark backing so it
/// reads on any model.
pub fn draw_scale_bar(image: &mut RgbaImage, bar: &ScaleBar) {
    let scale = if image.height() >= 600 { 2 } else { 1 };
    let margin = 12 * i64::from(scale);
    let length = bar.pixels.round() as i64;
    let thickness = 3 * i64::from(scale);
    let text_height = 7 * i64::from(scale);
    let y = i64::from(image.height()) - margin - thickness;
    let x = margin;
    let backing = Rgba([0, 0, 0, 255]);
    let white = Rgba([255, 255, 255, 255]);
    let label_width = i64::from(text_width(&bar.label, scale));
    fill(
        image,
        x - 4,
        y - text_height - 10 * i64::from(scale),
        length.max(label_width) + 8,
        text_height + thickness + 14 * i64::from(scale),
        backing,
    );
    fill(image, x, y, length, thickness, white);
    fill(
        image,
        x,
        y - 3 * i64::from(scale),
        i64::from(scale),
        thickness + 3 * i64::from(scale),
        white,
    );
    fill(
        image,
        x + length - i64::from(scale),
        y - 3 * i64::from(scale),
        i64::from(scale),
        thickness + 3 * i64::from(scale),
        white,
    );
    draw_text(
        image,
        x,
        y - text_height - 6 * i64::from(scale),
        &bar.label,
        scale,
        white,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_bars_are_round_and_fit() {
        // 0.1 mm per pixel, 1000 px wide: a fifth is 20 mm.
        let bar = scale_bar_for(1e-4, 1000).unwrap();
        assert_eq!((bar.mm, bar.label.as_str()), (20.0, "20 mm"));
        assert!((bar.pixels - 200.0).abs() < 1e-9);
        let bar = scale_bar_for(0.01, 1000).unwrap();
        assert_eq!(bar.label, "2 m");
        let bar = scale_bar_for(3e-6, 1000).unwrap();
        assert_eq!(bar.label, "0.5 mm");
    }

    #[test]
    fn text_marks_pixels_only_inside_the_picture() {
        let mut image = RgbaImage::new(40, 10);
        draw_text(&mut image, 30, 2, "10 mm", 1, Rgba([255, 0, 0, 255]));
        let red = image.pixels().filter(|p| p.0[0] == 255).count();
        assert!(red > 0);
        for c in "0123456789.-+±mck#°² ".chars() {
            assert!(glyph(c).is_some(), "{c}");
        }
    }
}
