//! Keys the store holds for users, sealed at rest: ChaCha20-Poly1305 under a key derived from the store's
//! signing key, which never sits in the database. A copy of the database (a backup, a PostgreSQL replica)
//! holds no usable private key; the stored text names its format so that old rows can be recognised.
//!
//! This only keeps keys out of the database's plain text. A store that holds a party's key can still sign for
//! them; keys that never leave the party's device are the remedy (the sign-in issue).

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "sealed-v1:";

/// The key that seals held keys, derived from the store's signing key seed (instances sharing a database
/// share that key, so they can open what another sealed).
pub fn wrapping_key(signing_seed: &[u8; 32]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"exhibit held-key wrapping v1\n");
    hash.update(signing_seed);
    hash.finalize().into()
}

/// Seal `secret` for `user` (the user id is bound in, so a sealed key moved to another row does not open).
pub fn seal(wrapping_key: &[u8; 32], user: i64, secret: &[u8; 32]) -> Result<String, String> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(wrapping_key));
    let aad = user.to_le_bytes();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: &aad,
            },
        )
        .map_err(|_| "sealing a key failed".to_owned())?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Whether a stored value is sealed (older stores kept 64 hex digits).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Open a sealed key of `user`.
pub fn open(wrapping_key: &[u8; 32], user: i64, stored: &str) -> Result<[u8; 32], String> {
    let text = stored
        .strip_prefix(PREFIX)
        .ok_or("the held key is not sealed")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| "the sealed key is not base64")?;
    if bytes.len() != 12 + 32 + 16 {
        return Err("the sealed key has the wrong length".into());
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(wrapping_key));
    let aad = user.to_le_bytes();
    let secret = cipher
        .decrypt(
            Nonce::from_slice(&bytes[..12]),
            Payload {
                msg: &bytes[12..],
                aad: &aad,
            },
        )
        .map_err(
            |_| "the sealed key does not open with this store's key (or was moved or changed)",
        )?;
    secret
        .try_into()
        .map_err(|_| "the sealed key has the wrong length".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_for_their_user_and_key() {
        let key = wrapping_key(&[7; 32]);
        let sealed = seal(&key, 3, &[9; 32]).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains(&codec::manifest::hex(&[9; 32])));
        assert_eq!(open(&key, 3, &sealed).unwrap(), [9; 32]);
        assert!(open(&key, 4, &sealed).is_err());
        assert!(open(&wrapping_key(&[8; 32]), 3, &sealed).is_err());
    }
}
