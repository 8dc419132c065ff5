//! Fuzz the LAS reader: an error or a scan, never a panic, a hang or an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = ingest::parse_scan(ingest::ScanFormat::Las, bytes, "fuzz.las".as_ref());
});
