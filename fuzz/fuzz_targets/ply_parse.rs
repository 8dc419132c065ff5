//! Fuzz the PLY reader, whole-file and streaming: an error or a model, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let name = std::path::Path::new("fuzz.ply");
    let _ = ingest::parse_scan(ingest::ScanFormat::Ply, bytes, name);
    let source = std::io::Cursor::new(bytes.to_vec());
    let _ = ingest::read_scan_from(source, bytes.len() as u64, name, &ingest::ReadOptions::default());
});
