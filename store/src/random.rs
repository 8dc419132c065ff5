//! Randomness from the operating system: tokens, share links, temporary names.

/// `n` random bytes from the operating system, as hex.
///
/// # Panics
/// When the operating system has no randomness to give: no safe token can be made then.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something a server can carry on from.
    #[allow(
        clippy::expect_used,
        reason = "no randomness means no safe tokens: stop"
    )]
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    codec::manifest::hex(&bytes)
}
