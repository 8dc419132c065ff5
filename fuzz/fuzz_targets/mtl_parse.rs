//! Fuzz the MTL (material file) reader: materials or an error naming the line, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = ingest::texture::mtl::parse_mtl(bytes);
});
