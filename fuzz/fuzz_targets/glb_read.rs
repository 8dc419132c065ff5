//! Fuzz the glTF reader: the GLB container, the JSON, accessors, sparse data and the meshopt decoders.
//! Any input must give a model or an error, never a panic, a hang or an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(model) = codec::read_model_bytes(bytes, None) {
        // What the reader accepts must satisfy the mesh invariants, or the encoder would refuse it later.
        let _ = model.mesh.validate();
    }
});
