//! Fuzz the PLY reader (ascii and binary): an error or a mesh, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = ingest::parse_scan(ingest::ScanFormat::Ply, bytes, "fuzz.ply".as_ref());
});
