//! QR codes drawn in a terminal with Unicode half blocks (two modules a character cell, upper and lower), so
//! a phone can read a share link straight off the screen the command ran on.

use anyhow::Context as _;

/// The QR code of `text` as lines of `█`, `▀`, `▄` and spaces, dark modules dark on a light terminal and
/// with a quiet zone of two modules; the symbol's version comes back too (1–40; small is easy to read).
pub fn terminal_lines(text: &str) -> anyhow::Result<(Vec<String>, i16)> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .context("making the QR code")?;
    let version = match code.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    };
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 2;
    let span = width + 2 * quiet;
    // Module (x, y) of the symbol with its quiet zone: dark only inside the symbol.
    let dark = |x: usize, y: usize| -> bool {
        (quiet..quiet + width).contains(&x)
            && (quiet..quiet + width).contains(&y)
            && colors[(y - quiet) * width + (x - quiet)] == qrcode::Color::Dark
    };
    // Terminals draw light text on dark more often than not: print the light modules as blocks, so that the
    // symbol reads with dark modules dark on such a terminal (phones also read the inverted symbol a light
    // terminal shows).
    let lines = (0..span)
        .step_by(2)
        .map(|y| {
            (0..span)
                .map(|x| match (!dark(x, y), !dark(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect::<String>()
        })
        .collect();
    Ok((lines, version))
}

#[cfg(test)]
mod tests {
    use super::terminal_lines;

    #[test]
    fn a_short_link_is_a_small_symbol_drawn_in_half_blocks() {
        let (lines, version) =
            terminal_lines("http://192.168.100.200:8080/s/0123456789abcdef0123456789abcdef")
                .unwrap();
        assert!(version <= 5, "version {version}");
        let modules = 17 + 4 * usize::try_from(version).unwrap();
        // Two modules a cell vertically, one horizontally, with a quiet zone of two on each side.
        assert_eq!(lines.len(), (modules + 4).div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == modules + 4));
        // The quiet zone is light, so drawn as full blocks.
        assert!(lines[0].chars().all(|c| c == '█'));
    }
}
