//! Fuzz the LAS reader, point by point and streaming: an error or a scan, never a panic, a hang or an
//! unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let name = std::path::Path::new("fuzz.las");
    let _ = ingest::parse_scan(ingest::ScanFormat::Las, bytes, name);
    let source = std::io::Cursor::new(bytes.to_vec());
    let _ = ingest::read_scan_from(source, bytes.len() as u64, name, &ingest::ReadOptions::default());
});
