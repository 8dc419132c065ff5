//! Header parsers with no dependencies on the server, so that the fuzz targets can take them as they are
//! (`fuzz/fuzz_targets/store_headers.rs` includes this file).

use base64::Engine as _;

/// `Upload-Metadata: key base64,key base64,key` (tus 1.0): pairs in order; an error names the key.
pub fn parse_upload_metadata(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, ' ');
        let key = parts.next().unwrap_or_default().to_owned();
        let value = match parts.next() {
            Some(encoded) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|e| format!("Upload-Metadata `{key}`: not base64: {e}"))?;
                String::from_utf8(bytes)
                    .map_err(|_| format!("Upload-Metadata `{key}`: not UTF-8 text"))?
            }
            None => String::new(),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range; several are answered with the whole blob).
/// A `Range` that does not fit the blob (416).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

pub fn parse_range(text: &str, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| Unsatisfiable)?;
            if n == 0 {
                return Err(Unsatisfiable);
            }
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().map_err(|_| Unsatisfiable)?, size),
        (a, b) => {
            let a: u64 = a.parse().map_err(|_| Unsatisfiable)?;
            let b: u64 = b.parse().map_err(|_| Unsatisfiable)?;
            if b < a {
                return Err(Unsatisfiable);
            }
            // `b` may be u64::MAX ("to the end of anything"): the end saturates instead of wrapping to 0.
            (a, b.saturating_add(1).min(size))
        }
    };
    if start >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_ending_at_the_largest_number_is_the_rest_of_the_blob() {
        // Found by the store_headers fuzz target: `b + 1` overflowed (a panic in debug builds, and an end of
        // 0 before the start in release builds).
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 100),
            Ok(Some((0, 100)))
        );
        assert_eq!(
            parse_range("bytes=759-18446744073709551615", 1000),
            Ok(Some((759, 1000)))
        );
        assert_eq!(
            parse_range("bytes=10-18446744073709551616", 100),
            Err(Unsatisfiable)
        );
    }
}
