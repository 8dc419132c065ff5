//! Fuzz the XYZ reader: an error or a scan, never a panic, a hang or an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = ingest::parse_scan(ingest::ScanFormat::Xyz, bytes, "fuzz.xyz".as_ref());
});
