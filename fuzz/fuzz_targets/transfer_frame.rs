//! Fuzz the transfer bundle's layout reader (store/src/bundle_frame.rs): a frame or a reason, never a panic;
//! every blob it finds lies inside the file, in order, before the signature.
#![no_main]

#[path = "../../store/src/bundle_frame.rs"]
mod bundle_frame;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(frame) = bundle_frame::parse(bytes) {
        let mut previous = 0;
        for span in &frame.blobs {
            assert!(previous <= span.start && span.start <= span.end && span.end <= frame.sig_at);
            previous = span.end;
        }
        assert!(frame.sig_at + bundle_frame::SIG.len() <= bytes.len());
        let _ = bundle_frame::signature(bytes, frame.sig_at);
        // A layout problem always says something; the header is whatever JSON the file held.
        assert!(frame.problems.iter().all(|p| !p.is_empty()));
        let _ = frame.header.get("blobs");
    }
});
