//! Fuzz the plain-Rust meshopt decoders (the web viewer's): an error or a buffer, never a panic. The first
//! two bytes choose the count and the vertex size, so short streams reach every stride.
#![no_main]

use codec::meshopt_decode as decode;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let [count, size, rest @ ..] = bytes else {
        return;
    };
    let count = usize::from(*count) * 7;
    let size = (usize::from(*size % 64) + 1) * 4;
    if let Ok(mut vertices) = decode::decode_vertex_buffer(rest, count, size) {
        let _ = decode::decode_filter_oct(&mut vertices, size);
        let _ = decode::decode_filter_quat(&mut vertices, size);
        decode::decode_filter_exp(&mut vertices);
    }
    let _ = decode::decode_index_buffer(rest, count / 7 * 3);
    let _ = decode::decode_index_sequence(rest, count);
});
