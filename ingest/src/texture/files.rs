//! Files a scan names (material files, texture images): read only from inside the scan's folder.

use std::path::{Component, Path, PathBuf};

use codec::InputRecord;

/// Largest companion file read (a 16384² PNG with an alpha channel fits).
const MAX_COMPANION_BYTES: u64 = 1 << 30;

/// `relative` (as a scan file writes it, `/` or `\` between folders) inside `folder`, or why not: absolute
/// paths, `..`, and links that lead out of the folder are refused, so a scan cannot make exhibit read (and
/// upload) a file it was not given.
pub fn contained_path(folder: &Path, relative: &str) -> Result<PathBuf, String> {
    let normal = relative.replace('\\', "/");
    let candidate = Path::new(&normal);
    if normal.is_empty()
        || candidate
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "{relative:?} is not a path inside the scan's folder: refused"
        ));
    }
    let path = folder.join(candidate);
    let (Ok(real_folder), Ok(real_path)) = (folder.canonicalize(), path.canonicalize()) else {
        return Err(format!("{relative:?} was not found beside the scan"));
    };
    if !real_path.starts_with(&real_folder) {
        return Err(format!(
            "{relative:?} leads out of the scan's folder (through a link): refused"
        ));
    }
    Ok(path)
}

/// Read a file the scan names, hashed, with its input record (name: the path as written, `/` between folders).
pub(super) fn read_companion(
    folder: &Path,
    relative: &str,
    scan_name: &str,
) -> Result<(Vec<u8>, InputRecord), String> {
    let path = contained_path(folder, relative)?;
    let size = fs_err::metadata(&path)
        .map_err(|e| format!("{relative:?}: {e}"))?
        .len();
    if size > MAX_COMPANION_BYTES {
        return Err(format!(
            "{relative:?} is {size} bytes, more than the {MAX_COMPANION_BYTES} a texture may be"
        ));
    }
    let bytes = fs_err::read(&path).map_err(|e| format!("{relative:?}: {e}"))?;
    let record = InputRecord {
        name: relative.replace('\\', "/"),
        sha256: codec::manifest::sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        format: String::new(),
        unit: String::new(),
        used_by: Some(scan_name.to_owned()),
    };
    Ok((bytes, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        let folder = tempfile::tempdir().unwrap();
        fs_err::write(folder.path().join("a.png"), b"x").unwrap();
        assert!(contained_path(folder.path(), "a.png").is_ok());
        for bad in [
            "../a.png",
            "/etc/passwd",
            "..\\..\\x",
            "",
            "sub/../../a.png",
        ] {
            let why = contained_path(folder.path(), bad).unwrap_err();
            assert!(why.contains("refused"), "{bad}: {why}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", folder.path().join("link.png")).unwrap();
            let why = contained_path(folder.path(), "link.png").unwrap_err();
            assert!(why.contains("leads out"), "{why}");
        }
    }
}
