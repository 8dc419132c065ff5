//! The GLB container: a 12-byte header, a JSON chunk, an optional binary chunk.
//!
//! The reader follows the Khronos validator's rules for the container, so that every file the validator
//! calls an error is refused here with the byte offset of the problem, and every file it accepts is read.

use crate::CodecError;

const MAGIC: u32 = 0x4654_6C67; // "glTF"
const CHUNK_JSON: u32 = 0x4E4F_534A; // "JSON"
const CHUNK_BIN: u32 = 0x004E_4942; // "BIN\0"

/// Assemble a GLB from a JSON document and a binary chunk (padded here).
#[must_use]
pub fn write_glb(json: &serde_json::Value, bin: &[u8]) -> Vec<u8> {
    // Serializing a `Value` cannot fail.
    let mut json_bytes = serde_json::to_vec(json).unwrap_or_default();
    json_bytes.resize(json_bytes.len().next_multiple_of(4), b' ');
    let bin_padded = bin.len().next_multiple_of(4);
    let bin_chunk = if bin.is_empty() { 0 } else { 8 + bin_padded };
    let total = 12 + 8 + json_bytes.len() + bin_chunk;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&CHUNK_JSON.to_le_bytes());
    out.extend_from_slice(&json_bytes);
    if !bin.is_empty() {
        out.extend_from_slice(&(bin_padded as u32).to_le_bytes());
        out.extend_from_slice(&CHUNK_BIN.to_le_bytes());
        out.extend_from_slice(bin);
        out.resize(total, 0);
    }
    out
}

/// The two chunks of a GLB, borrowed from the file's bytes.
#[derive(Debug)]
pub struct GlbChunks<'a> {
    /// The JSON chunk.
    pub json: &'a [u8],
    /// Byte offset of the JSON chunk's data in the file.
    pub json_offset: usize,
    /// The binary chunk, when present.
    pub bin: Option<&'a [u8]>,
}

/// Whether bytes start like a GLB.
#[must_use]
pub fn is_glb(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == MAGIC
}

/// Split a GLB into its chunks, refusing anything the glTF 2.0 specification forbids.
pub fn parse_glb(bytes: &[u8]) -> Result<GlbChunks<'_>, CodecError> {
    let fail = |offset: usize, reason: &str| CodecError::Glb {
        offset: offset as u64,
        reason: reason.to_owned(),
        path: std::path::PathBuf::new(),
    };
    let word = |offset: usize| -> Option<u32> {
        bytes
            .get(offset..offset + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.len() < 12 {
        return Err(fail(bytes.len(), "file ends inside the 12-byte header"));
    }
    if word(0) != Some(MAGIC) {
        return Err(fail(0, "wrong magic: not a GLB file"));
    }
    let version = word(4).unwrap_or(0);
    if version != 2 {
        return Err(fail(
            4,
            &format!("unsupported GLB version {version}, only 2 is defined"),
        ));
    }
    let declared = word(8).unwrap_or(0) as usize;
    if declared < 20 {
        return Err(fail(
            8,
            &format!("declared length {declared} is too small for a header and a chunk"),
        ));
    }
    if declared > bytes.len() {
        return Err(fail(
            8,
            &format!(
                "declared length {declared} exceeds the file's {} bytes",
                bytes.len()
            ),
        ));
    }
    if !declared.is_multiple_of(4) {
        return Err(fail(
            8,
            &format!("declared length {declared} is not a multiple of 4"),
        ));
    }
    // Bytes after the declared length are ignored, as the specification allows (the validator warns).
    let body = &bytes[..declared];
    let mut offset = 12usize;
    let mut json: Option<(&[u8], usize)> = None;
    let mut bin: Option<&[u8]> = None;
    let mut chunk_number = 0;
    while offset < body.len() {
        if body.len() - offset < 8 {
            return Err(fail(offset, "file ends inside a chunk header"));
        }
        let length = word(offset).unwrap_or(0) as usize;
        let kind = word(offset + 4).unwrap_or(0);
        let data_start = offset + 8;
        if !length.is_multiple_of(4) {
            return Err(fail(
                offset,
                &format!("chunk length {length} is not a multiple of 4"),
            ));
        }
        if length > body.len() - data_start {
            return Err(fail(
                offset,
                &format!("chunk of {length} bytes runs past the end of the file"),
            ));
        }
        let data = &body[data_start..data_start + length];
        match (chunk_number, kind) {
            (0, CHUNK_JSON) => {
                if data.is_empty() {
                    return Err(fail(offset, "the JSON chunk is empty"));
                }
                json = Some((data, data_start));
            }
            (0, _) => return Err(fail(offset, "the first chunk is not JSON")),
            (_, CHUNK_JSON) => return Err(fail(offset, "a second JSON chunk")),
            (1, CHUNK_BIN) => {
                if data.is_empty() {
                    return Err(fail(offset, "the binary chunk is empty"));
                }
                bin = Some(data);
            }
            (_, CHUNK_BIN) => {
                return Err(fail(
                    offset,
                    "a binary chunk that does not directly follow the JSON chunk",
                ));
            }
            // Unknown chunk types after the first are ignored, as the specification requires.
            _ => {}
        }
        chunk_number += 1;
        offset = data_start + length;
    }
    let (json, json_offset) = json.ok_or_else(|| fail(12, "no JSON chunk"))?;
    Ok(GlbChunks {
        json,
        json_offset,
        bin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse_round_trips() {
        let glb = write_glb(
            &serde_json::json!({"asset": {"version": "2.0"}}),
            &[1, 2, 3],
        );
        assert_eq!(glb.len() % 4, 0);
        let chunks = parse_glb(&glb).unwrap();
        assert_eq!(chunks.bin, Some(&[1u8, 2, 3, 0][..]));
        assert!(
            std::str::from_utf8(chunks.json)
                .unwrap()
                .starts_with("{\"asset\"")
        );
    }

    #[test]
    fn reject_malformed_headers() {
        let good = write_glb(&serde_json::json!({"asset": {"version": "2.0"}}), &[]);
        let check = |bytes: &[u8], expect: &str| {
            let message = parse_glb(bytes).unwrap_err().to_string();
            assert!(message.contains(expect), "{message}");
        };
        check(&good[..7], "ends inside the 12-byte header");
        check(b"glTX\x02\0\0\0\x14\0\0\0", "wrong magic");
        let mut wrong_version = good.clone();
        wrong_version[4] = 1;
        check(&wrong_version, "version 1");
        let mut too_long = good.clone();
        too_long[8] = 0xff;
        check(&too_long, "exceeds the file");
        check(&good[..good.len() - 4], "exceeds the file");
    }

    #[test]
    fn reject_lying_chunk_length() {
        let mut glb = write_glb(&serde_json::json!({"asset": {"version": "2.0"}}), &[9; 8]);
        let json_len = u32::from_le_bytes([glb[12], glb[13], glb[14], glb[15]]) as usize;
        let bin_header = 20 + json_len;
        glb[bin_header..bin_header + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        assert!(
            parse_glb(&glb)
                .unwrap_err()
                .to_string()
                .contains("runs past the end")
        );
    }
}
