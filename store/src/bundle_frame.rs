//! The byte layout of an appellate transfer bundle, read without trusting any of it: `EXHIBIT-TRANSFER-1\n`,
//! the header's length in decimal and `\n`, the header (JSON), the blobs in the header's order, then `\nSIG `,
//! the base64 signature and `\n`. Every length comes from the file, so each is only compared with what is
//! there. What the parts mean (hashes, proofs, signatures) is checked in `transfer.rs`. This file depends on
//! `serde_json` alone, so the fuzz target includes it by path.

use serde_json::Value;

pub const MAGIC: &[u8] = b"EXHIBIT-TRANSFER-1\n";
pub const SIG: &[u8] = b"\nSIG ";

/// One blob's place in the bundle.
#[derive(Debug, PartialEq, Eq)]
pub struct BlobSpan {
    /// The name the header gives it (its SHA-256 when the bundle is honest).
    pub sha256: String,
    /// Its bytes' range in the bundle.
    pub start: usize,
    pub end: usize,
}

/// A bundle cut into its parts.
#[derive(Debug)]
pub struct Frame {
    pub header: Value,
    /// The blobs that lie wholly before the signature, in the header's order.
    pub blobs: Vec<BlobSpan>,
    /// Where `\nSIG ` starts: everything before it is signed.
    pub sig_at: usize,
    /// Layout problems found after the header was read (a blob past the end, bytes no blob explains).
    pub problems: Vec<String>,
}

/// Cut a bundle into header, blobs and seal. An error when not even the header can be read.
pub fn parse(bytes: &[u8]) -> Result<Frame, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a transfer bundle (the first line is not EXHIBIT-TRANSFER-1)")?;
    let newline = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header length")?;
    let header_len: usize = std::str::from_utf8(&rest[..newline])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("byte {}: the header length is not a number", MAGIC.len()))?;
    let header_start = MAGIC.len() + newline + 1;
    let header_end = header_start
        .checked_add(header_len)
        .filter(|end| *end <= bytes.len())
        .ok_or("the header runs past the end of the file")?;
    let header: Value = serde_json::from_slice(&bytes[header_start..header_end])
        .map_err(|e| format!("the header is not JSON ({e}): changed bytes"))?;
    let sig_at = bytes
        .windows(SIG.len())
        .rposition(|w| w == SIG)
        .filter(|at| *at >= header_end)
        .ok_or("no signature at the end")?;
    let mut problems = Vec::new();
    let mut blobs = Vec::new();
    let mut at = header_end;
    for entry in header["blobs"].as_array().into_iter().flatten() {
        let sha256 = entry["sha256"].as_str().unwrap_or_default().to_owned();
        let len = usize::try_from(entry["bytes"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
        let Some(end) = at.checked_add(len).filter(|end| *end <= sig_at) else {
            problems.push(format!("blob {sha256}: runs past the blobs' end"));
            break;
        };
        blobs.push(BlobSpan {
            sha256,
            start: at,
            end,
        });
        at = end;
    }
    if problems.is_empty() && at != sig_at {
        problems.push(format!(
            "{} unexplained bytes before the signature",
            sig_at - at
        ));
    }
    Ok(Frame {
        header,
        blobs,
        sig_at,
        problems,
    })
}

/// The base64 signature after `\nSIG `, when exactly it and one newline follow.
pub fn signature(bytes: &[u8], sig_at: usize) -> Option<&str> {
    bytes
        .get(sig_at + SIG.len()..)?
        .strip_suffix(b"\n")
        .and_then(|s| std::str::from_utf8(s).ok())
}
