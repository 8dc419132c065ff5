//! SHA-256 of a file computed while a reader that seeks (the LAS/LAZ decoder) reads it: bytes are hashed
//! the first time they are read in order; whatever was skipped or read out of order is read once more at
//! the end. For LAS and LAZ that is only the chunk table and extended records at the end of the file.

use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::Digest as _;

struct State<R> {
    inner: R,
    /// Where the next read of `inner` starts.
    position: u64,
    /// Bytes `0..hashed` are in the hasher.
    hashed: u64,
    hasher: sha2::Sha256,
}

/// A reader whose clones share one source and one hash (the decoder owns one clone, the caller keeps
/// another to finish the hash once the decoder is done).
pub(crate) struct HashingReader<R> {
    state: Arc<Mutex<State<R>>>,
}

impl<R> Clone for HashingReader<R> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<R: Read + Seek> HashingReader<R> {
    /// Hash `inner` from its start.
    pub fn new(mut inner: R) -> std::io::Result<Self> {
        inner.seek(SeekFrom::Start(0))?;
        Ok(Self {
            state: Arc::new(Mutex::new(State {
                inner,
                position: 0,
                hashed: 0,
                hasher: sha2::Sha256::new(),
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        // A panic while holding the lock leaves a consistent state (counters move after each read).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hash what was not read in order, to the end; the hex digest and the file's length.
    pub fn finish(&self) -> std::io::Result<(String, u64)> {
        let mut state = self.lock();
        let at = state.hashed;
        state.inner.seek(SeekFrom::Start(at))?;
        state.position = at;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = state.inner.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            state.hasher.update(&buffer[..n]);
            state.hashed += n as u64;
            state.position += n as u64;
        }
        let digest = state.hasher.clone().finalize();
        Ok((codec::manifest::hex(&digest), state.hashed))
    }
}

impl<R: Read + Seek> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut state = self.lock();
        let n = state.inner.read(out)?;
        let (start, end) = (state.position, state.position + n as u64);
        if start <= state.hashed && end > state.hashed {
            let from = (state.hashed - start) as usize;
            state.hasher.update(&out[from..n]);
            state.hashed = end;
        }
        state.position = end;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for HashingReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let mut state = self.lock();
        state.position = state.inner.seek(to)?;
        Ok(state.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_order_of_reads_gives_the_hash_of_the_whole() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let reader = HashingReader::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let mut decoder = reader.clone();
        let mut buffer = vec![0u8; 1000];
        decoder.read_exact(&mut buffer).unwrap();
        decoder.seek(SeekFrom::Start(90_000)).unwrap();
        decoder.read_exact(&mut buffer).unwrap();
        decoder.seek(SeekFrom::Start(500)).unwrap();
        for _ in 0..40 {
            decoder.read_exact(&mut buffer).unwrap();
        }
        drop(decoder);
        let (hash, length) = reader.finish().unwrap();
        assert_eq!(hash, codec::manifest::sha256_hex(&bytes));
        assert_eq!(length, 100_000);
    }
}
