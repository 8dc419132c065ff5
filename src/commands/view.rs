//! `exhibit view`: open a model in the hearing-room window.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use viewer::desktop::{ViewOptions, run as run_window};
use viewer::i18n::Lang;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.glb or .gltf); a second one opens the comparison (A beside B).
    models: Vec<PathBuf>,
    /// Interface language: en or zh (中文).
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Window size in points, width x height.
    #[arg(long, default_value = "1280x800")]
    size: String,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let lang = match args.lang.as_str() {
        "en" => Lang::En,
        "zh" => Lang::Zh,
        other => bail!("--lang {other:?}: expected en or zh"),
    };
    let (width, height) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<f32>().ok()?, h.parse::<f32>().ok()?)))
        .filter(|&(w, h)| (200.0..=8192.0).contains(&w) && (200.0..=8192.0).contains(&h))
        .with_context(|| {
            format!(
                "--size {:?}: expected WIDTHxHEIGHT, each 200..8192",
                args.size
            )
        })?;
    let (path, compare_with) = match args.models.as_slice() {
        [one] => (one.clone(), None),
        [a, b] => (a.clone(), Some(b.clone())),
        [] => bail!("exhibit view: name a model file (or two, to compare them)"),
        [_, _, _, ..] => bail!("exhibit view: at most two models (A and B, side by side)"),
    };
    for path in std::iter::once(&path).chain(&compare_with) {
        let text = path.to_string_lossy();
        if text.starts_with("http://") || text.starts_with("https://") {
            bail!(
                "{text}: opening a model from a court store needs the store (issue 5), which is not built yet; download the file and open it"
            );
        }
        if !path.is_file() {
            bail!("cannot open {}: no such file", path.display());
        }
    }
    run_window(ViewOptions {
        path,
        compare_with,
        lang,
        size: (width, height),
    })?;
    Ok(())
}
