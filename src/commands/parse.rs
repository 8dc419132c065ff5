//! Option values several subcommands share: picture sizes, comma-separated numbers, standard views.

use anyhow::Context as _;
use viewer::camera::StandardView;

/// `WIDTHxHEIGHT` in pixels, each within `range`.
pub fn size(text: &str, range: std::ops::RangeInclusive<u32>) -> anyhow::Result<(u32, u32)> {
    text.split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| range.contains(w) && range.contains(h))
        .with_context(|| {
            format!(
                "--size {text:?}: expected WIDTHxHEIGHT, each {}..{}",
                range.start(),
                range.end()
            )
        })
}

/// Comma-separated finite numbers; `what` names the option in the error.
pub fn numbers(text: &str, what: &str) -> anyhow::Result<Vec<f64>> {
    text.split(',')
        .map(|n| {
            n.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| format!("{what}: {n:?} is not a number"))
        })
        .collect()
}

/// A standard view by name.
pub fn view(text: &str) -> anyhow::Result<StandardView> {
    StandardView::from_name(text).with_context(|| {
        format!("--view {text:?}: expected front, back, left, right, top, bottom or iso")
    })
}
