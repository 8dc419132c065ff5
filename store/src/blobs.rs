//! Where the bytes live: a folder (default) or an S3-compatible object store, addressed by SHA-256.
//!
//! Uploads arrive in pieces (tus PATCH requests). A folder keeps one growing part file per upload; an
//! object store keeps one object per piece, so any instance behind a load balancer can take the next
//! piece. Either way the database's committed offset is the truth: bytes past it are leftovers of a
//! request that never finished and are cut off before the next piece is written.
//!
//! A blob only ever appears under its final name after its hash was checked, and (in a folder) after
//! it was written to a temporary name, fsynced, renamed, and the folder fsynced.

use std::io::{Read as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart,
};
use sha2::{Digest as _, Sha256};

/// A file's size, modification time (ns) and inode: unchanged facts mean an unchanged file.
pub type Fingerprint = (u64, i128, u64);

/// A stream of a blob's bytes.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// The blob store the server was started with.
#[derive(Debug)]
pub enum Blobs {
    Folder(FolderBlobs),
    Object(ObjectBlobs),
}

/// Blobs in `ROOT/blobs/ab/abcdef…`, upload parts in `ROOT/uploads/ID.part`.
#[derive(Debug)]
pub struct FolderBlobs {
    root: PathBuf,
}

/// Blobs at `blobs/<sha256>` in a bucket, upload pieces at `uploads/<id>/<offset>`.
#[derive(Debug)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    /// Local scratch space for assembling a finished upload before it is checked and stored.
    scratch: PathBuf,
}

/// Why a finished upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("the bytes received hash to {actual}, not the declared {declared}")]
    Mismatch { declared: String, actual: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn io_error(context: &str, error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{context}: {error}"))
}

fn object_error(error: object_store::Error) -> std::io::Error {
    match error {
        object_store::Error::NotFound { .. } => {
            std::io::Error::new(std::io::ErrorKind::NotFound, error.to_string())
        }
        other => std::io::Error::other(other.to_string()),
    }
}

/// fsync a folder so that a rename or a new file in it survives a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Make `dir` and its missing parents, closed to other users (0700).
fn make_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Write `bytes` to `dir/name` so that the name only ever holds the whole content: temp file, fsync,
/// rename, fsync the folder.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    make_private_dirs(dir)?;
    let mut temp = tempfile_in(dir)?;
    let result = (|| {
        temp.1.write_all(bytes)?;
        temp.1.sync_all()?;
        std::fs::rename(&temp.0, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp.0);
    }
    result
}

/// A new file with a unique name starting with `.tmp-` in `dir`.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    for _ in 0..16 {
        let path = dir.join(format!(".tmp-{}", crate::random::random_hex(8)));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).read(true).create_new(true);
        // Evidence is readable by the store's own user only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

/// SHA-256 and length of everything a reader yields.
pub fn hash_reader(mut reader: impl std::io::Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((codec::manifest::hex(&hasher.finalize()), total))
}

impl Blobs {
    /// `DATA/blobs` folder, or `s3://bucket?endpoint=…&region=…` with keys from `AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY`.
    pub fn open(url: Option<&str>, data: &Path) -> anyhow::Result<Self> {
        let Some(url) = url else {
            let root = data.to_path_buf();
            for dir in ["blobs", "uploads"] {
                crate::private_files::private_dir(&root.join(dir))?;
            }
            return Ok(Self::Folder(FolderBlobs { root }));
        };
        if let Some(path) = url.strip_prefix("file://") {
            return Self::open(None, Path::new(path));
        }
        let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--blobs {url}: {e}"))?;
        anyhow::ensure!(
            parsed.scheme() == "s3",
            "--blobs {url}: expected s3://BUCKET?endpoint=URL or file:///PATH"
        );
        let bucket = parsed
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("--blobs {url}: no bucket name"))?;
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256);
        for (key, value) in parsed.query_pairs() {
            builder = match key.as_ref() {
                "endpoint" => builder
                    .with_allow_http(value.starts_with("http://"))
                    .with_endpoint(value.as_ref()),
                "region" => builder.with_region(value.as_ref()),
                other => anyhow::bail!("--blobs {url}: unknown option {other}"),
            };
        }
        let store = builder
            .build()
            .map_err(|e| anyhow::anyhow!("--blobs {url}: {e}"))?;
        let scratch = data.join("scratch");
        crate::private_files::private_dir(&scratch)?;
        Ok(Self::Object(ObjectBlobs {
            store: Arc::new(store),
            scratch,
        }))
    }

    /// The file of a blob, for the folder backend.
    pub fn folder_path(&self, sha256: &str) -> Option<PathBuf> {
        match self {
            Self::Folder(folder) => Some(folder.blob_path(sha256)),
            Self::Object(_) => None,
        }
    }

    /// Whether parts are kept per upload piece (object store) rather than in one growing file.
    pub fn keeps_pieces(&self) -> bool {
        matches!(self, Self::Object(_))
    }

    /// Keep the body of one PATCH request as the bytes from `offset` on. Whatever a failed earlier
    /// request left past `offset` is cut off first. Returns the bytes kept; on an error nothing past
    /// `offset` is kept.
    pub async fn write_piece(
        &self,
        upload: &str,
        offset: u64,
        body: &mut Piece,
    ) -> std::io::Result<u64> {
        match self {
            Self::Folder(folder) => {
                let path = folder.part_path(upload);
                let mut options = tokio::fs::OpenOptions::new();
                options.create(true).truncate(false).write(true);
                #[cfg(unix)]
                options.mode(0o600);
                let mut file = options.open(&path).await?;
                file.set_len(offset).await?;
                let result = async {
                    file.seek(SeekFrom::Start(offset)).await?;
                    let written = body.copy_to(&mut file).await?;
                    if written == 0 {
                        file.set_len(offset).await?;
                    }
                    file.sync_all().await?;
                    Ok::<u64, std::io::Error>(written)
                }
                .await;
                if result.is_err() {
                    // Give the space back: a full disk must not stay full because of a half piece.
                    let _ = file.set_len(offset).await;
                    let _ = file.sync_all().await;
                    if offset == 0 {
                        drop(file);
                        let _ = tokio::fs::remove_file(&path).await;
                    }
                }
                result
            }
            Self::Object(objects) => {
                let (temp_path, file) = tempfile_in(&objects.scratch)?;
                let mut file = tokio::fs::File::from_std(file);
                let result = async {
                    let written = body.copy_to(&mut file).await?;
                    if written > 0 {
                        file.sync_all().await?;
                        let key = ObjectBlobs::piece_key(upload, offset);
                        objects.put_file(&temp_path, &key).await?;
                    }
                    Ok::<u64, std::io::Error>(written)
                }
                .await;
                drop(file);
                let _ = tokio::fs::remove_file(&temp_path).await;
                result
            }
        }
    }

    /// Check a finished upload's hash and store it as blob `sha256`. `pieces` are (offset, length)
    /// of the pieces an object store holds, in order; a folder ignores them.
    pub async fn finish(
        &self,
        upload: &str,
        pieces: &[(u64, u64)],
        length: u64,
        sha256: &str,
    ) -> Result<(), FinishError> {
        match self {
            Self::Folder(folder) => {
                let part = folder.part_path(upload);
                let blob = folder.blob_path(sha256);
                let declared = sha256.to_owned();
                let dir = blob.parent().map(Path::to_path_buf).unwrap_or_default();
                tokio::task::spawn_blocking(move || {
                    if !part.exists() && blob.exists() {
                        // Stored by an earlier attempt that died before it was recorded.
                        let (actual, _) = hash_reader(std::fs::File::open(&blob)?)?;
                        if actual == declared {
                            return Ok(());
                        }
                    }
                    let file = std::fs::File::open(&part)?;
                    let (actual, bytes) = hash_reader(file.take(length))?;
                    if bytes != length || actual != declared {
                        return Err(FinishError::Mismatch { declared, actual });
                    }
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&part)?
                        .set_len(length)?;
                    make_private_dirs(&dir)?;
                    std::fs::rename(&part, &blob)?;
                    sync_dir(&dir)?;
                    if let Some(parent) = dir.parent() {
                        sync_dir(parent)?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| io_error("finishing an upload", e))?
            }
            Self::Object(objects) => objects.finish(upload, pieces, length, sha256).await,
        }
    }

    /// Remove an upload's parts (termination, or after it was stored).
    pub async fn discard(&self, upload: &str, pieces: &[(u64, u64)]) {
        match self {
            Self::Folder(folder) => {
                let _ = tokio::fs::remove_file(folder.part_path(upload)).await;
            }
            Self::Object(objects) => {
                for (offset, _) in pieces {
                    let _ = objects
                        .store
                        .delete(&ObjectBlobs::piece_key(upload, *offset))
                        .await;
                }
            }
        }
    }

    /// Store a small blob whose bytes are in memory (a manifest, a preview image).
    pub async fn put(&self, sha256: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        match self {
            Self::Folder(folder) => {
                let path = folder.blob_path(sha256);
                tokio::task::spawn_blocking(move || {
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_owned();
                    write_atomically(&dir, &name, &bytes)
                })
                .await
                .map_err(|e| io_error("storing a blob", e))?
            }
            Self::Object(objects) => objects
                .store
                .put(&ObjectBlobs::blob_key(sha256), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(object_error),
        }
    }

    /// The bytes of blob `sha256` from `start` (inclusive) to `end` (exclusive).
    pub async fn read(&self, sha256: &str, start: u64, end: u64) -> std::io::Result<ByteStream> {
        match self {
            Self::Folder(folder) => {
                let mut file = tokio::fs::File::open(folder.blob_path(sha256)).await?;
                file.seek(SeekFrom::Start(start)).await?;
                let reader = tokio::io::AsyncReadExt::take(file, end.saturating_sub(start));
                Ok(tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).boxed())
            }
            Self::Object(objects) => {
                if start == end {
                    return Ok(futures_util::stream::empty().boxed());
                }
                let options = GetOptions {
                    range: Some(GetRange::Bounded(start..end)),
                    ..GetOptions::default()
                };
                let result = objects
                    .store
                    .get_opts(&ObjectBlobs::blob_key(sha256), options)
                    .await
                    .map_err(object_error)?;
                Ok(result.into_stream().map_err(object_error).boxed())
            }
        }
    }

    /// Every stored blob's name and size (for the scrub: files nobody recorded).
    pub async fn list(&self) -> std::io::Result<Vec<(String, u64)>> {
        match self {
            Self::Folder(folder) => {
                let root = folder.root.join("blobs");
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::new();
                    for shard in std::fs::read_dir(&root)? {
                        let shard = shard?;
                        if !shard.file_type()?.is_dir() {
                            continue;
                        }
                        for entry in std::fs::read_dir(shard.path())? {
                            let entry = entry?;
                            let name = entry.file_name().to_string_lossy().into_owned();
                            out.push((name, entry.metadata()?.len()));
                        }
                    }
                    out.sort();
                    Ok(out)
                })
                .await
                .map_err(|e| io_error("listing blobs", e))?
            }
            Self::Object(objects) => {
                let prefix = ObjectPath::from("blobs");
                let mut out: Vec<(String, u64)> = objects
                    .store
                    .list(Some(&prefix))
                    .map_ok(|meta| {
                        (
                            meta.location.filename().unwrap_or_default().to_owned(),
                            meta.size,
                        )
                    })
                    .try_collect()
                    .await
                    .map_err(object_error)?;
                out.sort();
                Ok(out)
            }
        }
    }

    /// Hash a stored blob from end to end: (sha256, bytes).
    pub async fn rehash(&self, sha256: &str) -> std::io::Result<(String, u64)> {
        match self {
            Self::Folder(folder) => {
                let path = folder.blob_path(sha256);
                tokio::task::spawn_blocking(move || hash_reader(std::fs::File::open(path)?))
                    .await
                    .map_err(|e| io_error("hashing a blob", e))?
            }
            Self::Object(objects) => {
                let mut stream = objects
                    .store
                    .get(&ObjectBlobs::blob_key(sha256))
                    .await
                    .map_err(object_error)?
                    .into_stream();
                let mut hasher = Sha256::new();
                let mut total = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(object_error)?;
                    total += chunk.len() as u64;
                    hasher.update(&chunk);
                }
                Ok((codec::manifest::hex(&hasher.finalize()), total))
            }
        }
    }

    /// File facts used to skip re-hashing an unchanged blob (folder only): size, mtime, inode.
    pub async fn fingerprint(&self, sha256: &str) -> Option<Fingerprint> {
        match self {
            Self::Folder(folder) => {
                let meta = tokio::fs::metadata(folder.blob_path(sha256)).await.ok()?;
                let mtime = meta
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_nanos();
                #[cfg(unix)]
                let inode = std::os::unix::fs::MetadataExt::ino(&meta);
                #[cfg(not(unix))]
                let inode = 0;
                Some((meta.len(), i128::try_from(mtime).ok()?, inode))
            }
            Self::Object(_) => None,
        }
    }
}

use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

impl FolderBlobs {
    fn part_path(&self, upload: &str) -> PathBuf {
        self.root.join("uploads").join(format!("{upload}.part"))
    }
    /// `blobs/ab/abcdef…`: 256 shards keep folders small.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("blobs")
            .join(sha256.get(..2).unwrap_or("00"))
            .join(sha256)
    }
}

impl ObjectBlobs {
    fn blob_key(sha256: &str) -> ObjectPath {
        ObjectPath::from(format!("blobs/{sha256}"))
    }
    fn piece_key(upload: &str, offset: u64) -> ObjectPath {
        ObjectPath::from(format!("uploads/{upload}/{offset:020}"))
    }

    async fn put_file(&self, path: &Path, key: &ObjectPath) -> std::io::Result<()> {
        let upload = self.store.put_multipart(key).await.map_err(object_error)?;
        let mut writer = WriteMultipart::new(upload);
        let mut file = tokio::fs::File::open(path).await?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buffer).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await.map_err(object_error)?;
            writer.write(&buffer[..n]);
        }
        writer.finish().await.map_err(object_error)?;
        Ok(())
    }

    async fn finish(
        &self,
        upload: &str,
        pieces: &[(u64, u64)],
        length: u64,
        sha256: &str,
    ) -> Result<(), FinishError> {
        let (temp_path, file) = tempfile_in(&self.scratch)?;
        let mut file = tokio::fs::File::from_std(file);
        let result = async {
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            for (offset, piece_length) in pieces {
                let mut stream = self
                    .store
                    .get(&Self::piece_key(upload, *offset))
                    .await
                    .map_err(object_error)?
                    .into_stream();
                let mut seen = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(object_error)?;
                    // A piece longer than recorded is a leftover of a retried request: keep the
                    // recorded length only.
                    let keep = (piece_length - seen).min(chunk.len() as u64) as usize;
                    hasher.update(&chunk[..keep]);
                    file.write_all(&chunk[..keep]).await?;
                    seen += keep as u64;
                }
                total += seen;
            }
            let actual = codec::manifest::hex(&hasher.finalize());
            if total != length || actual != sha256 {
                return Err(FinishError::Mismatch {
                    declared: sha256.to_owned(),
                    actual,
                });
            }
            file.sync_all().await?;
            self.put_file(&temp_path, &Self::blob_key(sha256)).await?;
            Ok(())
        }
        .await;
        drop(file);
        let _ = tokio::fs::remove_file(&temp_path).await;
        result
    }
}

/// The body of one PATCH request, read with an idle timeout and a size limit, optionally checked
/// against the client's `Upload-Checksum`.
pub struct Piece {
    pub body: BoxStream<'static, Result<Bytes, axum::Error>>,
    /// Most bytes this piece may carry (the upload's length minus its offset).
    pub limit: u64,
    /// Longest wait for the next bytes before the client counts as gone.
    pub idle: std::time::Duration,
    /// `Upload-Checksum: sha256 …`, when sent.
    pub checksum: Option<Vec<u8>>,
    /// Set when the piece ended early: the client went away, stalled, or sent too much.
    pub ended_early: Option<PieceEnd>,
}

impl std::fmt::Debug for Piece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Piece")
            .field("limit", &self.limit)
            .field("ended_early", &self.ended_early)
            .finish_non_exhaustive()
    }
}

/// How a piece ended before its body was complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PieceEnd {
    /// The connection broke or the body was malformed.
    Disconnected(String),
    /// No bytes came for the idle timeout.
    Stalled,
    /// More bytes than the upload's declared length.
    TooLarge,
    /// The bytes do not match `Upload-Checksum`.
    ChecksumMismatch,
}

impl Piece {
    /// Copy the body into `out`. Stops early (recording why in `ended_early`) when the client goes
    /// away, stalls or oversends; what arrived before that is written and counted, except when a
    /// checksum was sent: then only a complete, matching piece counts.
    async fn copy_to(&mut self, out: &mut tokio::fs::File) -> std::io::Result<u64> {
        let mut hasher = self.checksum.as_ref().map(|_| Sha256::new());
        let mut written = 0u64;
        let mut writer = tokio::io::BufWriter::with_capacity(1 << 20, &mut *out);
        loop {
            let next = tokio::time::timeout(self.idle, self.body.next()).await;
            let chunk = match next {
                Err(_) => {
                    self.ended_early = Some(PieceEnd::Stalled);
                    break;
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    self.ended_early = Some(PieceEnd::Disconnected(e.to_string()));
                    break;
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            let room = self.limit - written;
            let keep = (chunk.len() as u64).min(room) as usize;
            writer.write_all(&chunk[..keep]).await?;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk[..keep]);
            }
            written += keep as u64;
            if keep < chunk.len() {
                self.ended_early = Some(PieceEnd::TooLarge);
                break;
            }
        }
        writer.flush().await?;
        if let (Some(hasher), Some(expected)) = (hasher, &self.checksum)
            && (self.ended_early.is_some() || hasher.finalize().as_slice() != expected.as_slice())
            && self.ended_early.is_none()
        {
            self.ended_early = Some(PieceEnd::ChecksumMismatch);
        }
        match self.ended_early {
            // Oversent or damaged pieces count for nothing; a checked piece counts only whole.
            Some(PieceEnd::TooLarge | PieceEnd::ChecksumMismatch) => Ok(0),
            Some(_) if self.checksum.is_some() => Ok(0),
            _ => Ok(written),
        }
    }
}
