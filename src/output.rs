//! Writing results: one JSON object on stdout for `--json`, sentences otherwise; files atomically.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// Print one JSON object and a newline on stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value).context("cannot write to stdout")?;
    writeln!(stdout).context("cannot write to stdout")?;
    Ok(())
}

/// Print lines for a person on stdout.
pub fn print_lines(lines: &[String]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}").context("cannot write to stdout")?;
    }
    Ok(())
}

/// Write a file so that a crash leaves either the old file or the new one, never half of one:
/// write a temporary file beside it, fsync it, rename it over, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let temporary = folder.join(format!(".{}.partial", name.to_string_lossy()));
    let mut file = fs_err::File::create(&temporary)?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", temporary.display()))?;
    drop(file);
    fs_err::rename(&temporary, path)?;
    // Directory fsync makes the rename durable; not every filesystem allows it, which is not fatal.
    if let Ok(dir) = fs_err::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The sidecar manifest path for a GLB: `OUT.glb` → `OUT.manifest.json`.
pub fn manifest_path(glb: &Path) -> std::path::PathBuf {
    glb.with_extension("manifest.json")
}
