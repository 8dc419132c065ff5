//! Fuzz the E57 reader: an error or a scan, never a panic, a hang or an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = ingest::parse_scan(ingest::ScanFormat::E57, bytes, "fuzz.e57".as_ref());
});
