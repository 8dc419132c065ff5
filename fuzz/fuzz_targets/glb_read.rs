//! Fuzz the glTF reader: the GLB container, the JSON, accessors, sparse data and the meshopt decoders,
//! the choice of a level of detail (`MSFT_lod`), and the bytes a level needs (`level_prefix_len`). Any
//! input must give a model or an error, never a panic, a hang or an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(model) = codec::read_model_bytes(bytes, None) {
        // What the reader accepts must satisfy the mesh invariants, or the encoder would refuse it later.
        let _ = model.mesh.validate();
    }
    // The coarsest level, through the packed path the viewer uses.
    let _ = codec::read_packed_level_bytes(bytes, None, usize::MAX);
    // How much of a download the web viewer waits for: never more than a level that reads.
    if let Some(needed) = codec::level_prefix_len(bytes, usize::MAX) {
        assert!(needed >= 20, "a prefix holds at least the GLB and JSON chunk headers");
    }
});
