//! Fuzz the store's header parsers (tus `Upload-Metadata`, HTTP `Range`): a value or an error, never a
//! panic; a range, when given, always inside the blob.
#![no_main]

#[path = "../../store/src/headers.rs"]
mod headers;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let _ = headers::parse_upload_metadata(&text);
    let size = bytes.first().map_or(0, |b| u64::from(*b) * 1000);
    if let Ok(Some((start, end))) = headers::parse_range(&text, size) {
        assert!(start < end && end <= size, "{text:?}: {start}..{end} of {size}");
    }
});
