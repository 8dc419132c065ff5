//! A reserve of disk space kept for the custody log.
//!
//! When the disk fills up, the store must still be able to record who read what: otherwise it has to
//! choose between serving evidence without a custody record and refusing to serve it. So the store
//! keeps a file of zeros (`DATA/reserve`) and, when an event cannot be written for lack of space,
//! deletes it and writes the event into the space it frees. Until the reserve can be made again,
//! uploads are refused with 507 (they would eat the log's space); reads go on, and are logged.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub struct Reserve {
    path: Option<PathBuf>,
    bytes: u64,
    low: AtomicBool,
}

impl Reserve {
    /// A reserve of `bytes` at `path`; `None` keeps none (a remote database needs none here).
    pub fn new(path: Option<PathBuf>, bytes: u64) -> Self {
        let reserve = Self {
            path: path.filter(|_| bytes > 0),
            bytes,
            low: AtomicBool::new(false),
        };
        reserve.ensure();
        reserve
    }

    /// Make the reserve if it is missing. False (and low-space mode) when there is no room for it.
    pub fn ensure(&self) -> bool {
        let Some(path) = &self.path else {
            return true;
        };
        if std::fs::metadata(path).is_ok_and(|m| m.len() == self.bytes) {
            self.low.store(false, Ordering::SeqCst);
            return true;
        }
        let made = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path)?;
            let block = vec![0u8; 1 << 20];
            let mut left = self.bytes;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                file.write_all(&block[..n])?;
                left -= n as u64;
            }
            file.sync_all()
        })();
        if made.is_err() {
            let _ = std::fs::remove_file(path);
            if !self.low.swap(true, Ordering::SeqCst) {
                tracing::warn!(
                    "low on disk space: no room for the custody log's reserve; uploads paused"
                );
            }
            return false;
        }
        if self.low.swap(false, Ordering::SeqCst) {
            tracing::info!(
                "disk space is back: the custody log's reserve is made again; uploads resume"
            );
        }
        true
    }

    /// Free the reserve for the log. True when there was one to free.
    pub fn release(&self) -> bool {
        self.low.store(true, Ordering::SeqCst);
        let Some(path) = &self.path else {
            return false;
        };
        let freed = std::fs::remove_file(path).is_ok();
        if freed {
            tracing::warn!("disk full: the custody log's reserve was released; uploads paused");
        }
        freed
    }

    /// Whether the store is in low-space mode (uploads refused).
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::SeqCst)
    }
}
