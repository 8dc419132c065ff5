//! Fuzz texture images: the header check (format and size, bombs refused before any decoding), then, for images
//! small enough to decode quickly, the bounded decoder every part uses. An error or pixels, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Ok((_, width, height)) = codec::texture::probe(bytes) else {
        return;
    };
    if u64::from(width) * u64::from(height) > 1 << 20 {
        return;
    }
    if let Ok(image) = codec::TextureImage::from_bytes("fuzz.png", bytes.into()) {
        let _ = image.decode_rgba8();
    }
});
