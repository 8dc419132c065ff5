//! Fixed-size binary records (binary PLY vertices, binary PCD points) decoded chunk by chunk straight
//! into the stored point cloud: f32 offsets from the origin, f32 normals, sRGB bytes, f32 intensity.
//!
//! A large scan is never held twice: the file's bytes pass once through a small buffer, are hashed and
//! decoded in the same pass, and land in arrays sized once from the header. Each attribute is decoded by
//! a loop specialized for its value type (chosen once per chunk, not per value), in parallel over blocks
//! of records; every statistic is a min, max or sum of integers, so the result does not depend on how
//! the work was split between threads.

use codec::PointCloud;
use rayon::prelude::*;

use crate::raw::Converted;

/// The binary value types of PLY and PCD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Scalar {
    pub fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 8,
        }
    }

    /// How a colour channel of this type maps to 0..=255: floats are 0..1, 16-bit integers 0..65535.
    pub fn color_scale(self) -> f64 {
        match self {
            Scalar::F32 | Scalar::F64 => 255.0,
            Scalar::U16 | Scalar::I16 => 1.0 / 257.0,
            _ => 1.0,
        }
    }

    /// One value at the start of `bytes` (which must hold at least [`Scalar::size`] bytes).
    pub fn load(self, bytes: &[u8], big_endian: bool) -> f64 {
        match self {
            Scalar::I8 => i8::load(bytes, big_endian),
            Scalar::U8 => u8::load(bytes, big_endian),
            Scalar::I16 => i16::load(bytes, big_endian),
            Scalar::U16 => u16::load(bytes, big_endian),
            Scalar::I32 => i32::load(bytes, big_endian),
            Scalar::U32 => u32::load(bytes, big_endian),
            Scalar::I64 => i64::load(bytes, big_endian),
            Scalar::U64 => u64::load(bytes, big_endian),
            Scalar::F32 => f32::load(bytes, big_endian),
            Scalar::F64 => f64::load(bytes, big_endian),
        }
    }
}

/// A value type that can be read from a record; implemented for the ten scalar types.
trait Load: Copy {
    fn load(bytes: &[u8], big_endian: bool) -> f64;
}

macro_rules! impl_load {
    ($($t:ty),*) => {$(
        impl Load for $t {
            // One macro for ten types: `as` is the only conversion all of them have (64-bit integers round).
            #[allow(clippy::cast_lossless, reason = "see above")]
            #[inline]
            fn load(bytes: &[u8], big_endian: bool) -> f64 {
                let mut word = [0u8; size_of::<$t>()];
                word.copy_from_slice(&bytes[..size_of::<$t>()]);
                let value = if big_endian { <$t>::from_be_bytes(word) } else { <$t>::from_le_bytes(word) };
                value as f64
            }
        }
    )*};
}
impl_load!(i8, u8, i16, u16, i32, u32, i64, u64, f32, f64);

/// Run `$body` with `$T` bound to the Rust type of `$kind`: one monomorphized loop per value type.
macro_rules! with_type {
    ($kind:expr, $T:ident => $body:expr) => {
        match $kind {
            Scalar::I8 => {
                type $T = i8;
                $body
            }
            Scalar::U8 => {
                type $T = u8;
                $body
            }
            Scalar::I16 => {
                type $T = i16;
                $body
            }
            Scalar::U16 => {
                type $T = u16;
                $body
            }
            Scalar::I32 => {
                type $T = i32;
                $body
            }
            Scalar::U32 => {
                type $T = u32;
                $body
            }
            Scalar::I64 => {
                type $T = i64;
                $body
            }
            Scalar::U64 => {
                type $T = u64;
                $body
            }
            Scalar::F32 => {
                type $T = f32;
                $body
            }
            Scalar::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// Where one value sits in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// Byte offset from the start of the record.
    pub offset: usize,
    pub kind: Scalar,
}

/// How a record holds its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Colors {
    /// One value per channel (PLY's red green blue and maybe alpha); no alpha means opaque.
    Channels([Option<Field>; 4]),
    /// PCL's packed 32 bits 0xAARRGGBB, little-endian whatever the declared type; alpha only for `rgba`.
    Packed { offset: usize, alpha: bool },
    /// LAS: red, green, blue as little-endian u16, which some writers fill with 8-bit values. Kept as
    /// they are while every value seen is at most 255; from the first larger one the file is 16-bit and
    /// every value (earlier ones too, which were kept exactly) becomes `round(v / 257)`.
    Wide { offset: usize, sixteen_bit: bool },
}

/// The layout of one record: what is kept and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RecordLayout {
    pub stride: usize,
    pub big_endian: bool,
    pub position: [Field; 3],
    /// LAS integer coordinates: `value × scale + offset` per axis, before the unit.
    pub position_transform: Option<[(f64, f64); 3]>,
    pub normal: Option<[Field; 3]>,
    pub colors: Option<Colors>,
    pub intensity: Option<Field>,
}

impl RecordLayout {
    /// Every field inside the record (the readers build layouts from headers; this guards the decoder).
    pub fn is_valid(&self) -> bool {
        let fits = |f: &Field| f.offset + f.kind.size() <= self.stride;
        let color_fits = match &self.colors {
            None => true,
            Some(Colors::Channels(channels)) => channels.iter().flatten().all(fits),
            Some(Colors::Packed { offset, .. }) => offset + 4 <= self.stride,
            Some(Colors::Wide { offset, .. }) => offset + 6 <= self.stride,
        };
        self.stride > 0
            && self.position.iter().all(fits)
            && self.normal.iter().flatten().all(fits)
            && self.intensity.iter().all(fits)
            && color_fits
    }
}

/// A file of fixed-size records that can be decoded as it streams past: everything a reader learned
/// from the header.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RecordPlan {
    /// Detected format and variant, such as `ply-binary-le`.
    pub format: String,
    /// Byte offset of the first record.
    pub body_start: usize,
    /// Records the header declares.
    pub count: usize,
    pub layout: RecordLayout,
    /// What the records hold that is not kept, one phrase each.
    pub dropped: Vec<String>,
    /// Header facts for the manifest (comments, viewpoint...).
    pub metadata: Vec<(String, String)>,
    /// What a record is called in error messages (`vertex`, `point`).
    pub element: String,
}

/// Records decoded per parallel task: large enough to amortize scheduling, small enough to balance.
const BLOCK_RECORDS: usize = 1 << 13;

/// Facts about positions, combined over blocks with max and sum only.
#[derive(Clone, Copy, Debug)]
struct PositionStats {
    /// The largest squared distance between a point as read and as stored.
    max_rounding_sq: f64,
    dropped: u64,
}

impl PositionStats {
    const EMPTY: Self = Self {
        max_rounding_sq: 0.0,
        dropped: 0,
    };

    fn merge(self, other: Self) -> Self {
        Self {
            max_rounding_sq: self.max_rounding_sq.max(other.max_rounding_sq),
            dropped: self.dropped + other.dropped,
        }
    }
}

/// The point cloud being filled, chunk after chunk.
pub(crate) struct RecordSink {
    layout: RecordLayout,
    /// File unit → metres.
    scale: f64,
    /// Chosen from the first point with finite coordinates (see [`crate::raw::origin_of`]).
    origin_m: Option<[f64; 3]>,
    positions: Vec<[f32; 3]>,
    normals: Option<Vec<[f32; 3]>>,
    colors: Option<Vec<[u8; 4]>>,
    intensity: Option<Vec<f32>>,
    /// Records decoded so far.
    filled: usize,
    stats: PositionStats,
}

impl RecordSink {
    /// A sink for `count` records. The arrays are allocated once, at their final size, as zeroed memory
    /// the system provides lazily: each page is touched once, by the decoder that fills it.
    pub fn new(layout: RecordLayout, count: usize, scale: f64) -> Self {
        debug_assert!(layout.is_valid());
        Self {
            normals: layout.normal.map(|_| vec![[0.0; 3]; count]),
            colors: layout.colors.map(|_| vec![[0; 4]; count]),
            intensity: layout.intensity.map(|_| vec![0.0; count]),
            positions: vec![[0.0; 3]; count],
            filled: 0,
            layout,
            scale,
            origin_m: None,
            stats: PositionStats::EMPTY,
        }
    }

    /// Decode whole records (`chunk.len()` a multiple of the stride, no more than the count left).
    pub fn push(&mut self, chunk: &[u8]) {
        let stride = self.layout.stride;
        debug_assert_eq!(chunk.len() % stride, 0);
        let count = chunk.len() / stride;
        if self.origin_m.is_none() {
            self.origin_m = self.first_finite(chunk);
        }
        if let Some(Colors::Wide {
            offset,
            sixteen_bit,
        }) = &mut self.layout.colors
            && !*sixteen_bit
            && widest_color(chunk, stride, *offset) > 255
        {
            *sixteen_bit = true;
            // Everything kept so far is exact (at most 255): rescale it as the rest will be.
            if let Some(colors) = &mut self.colors {
                colors[..self.filled].par_iter_mut().for_each(|c| {
                    for channel in &mut c[..3] {
                        *channel = sixteen_to_eight(u16::from(*channel));
                    }
                });
            }
        }
        let range = self.filled..self.filled + count;
        self.filled += count;
        // Records with no finite point so far (origin unknown) are all dropped: any origin does for them.
        let place = Placement {
            scale: self.scale,
            origin: self.origin_m.unwrap_or([0.0; 3]),
        };
        let layout = &self.layout;
        // One parallel job per block of records, decoding every attribute of the block while it is in cache.
        let blocks = |len: usize| len.div_ceil(BLOCK_RECORDS);
        let mut normals = split(self.normals.as_mut(), range.clone());
        let mut colors = split(self.colors.as_mut(), range.clone());
        let mut intensity = split(self.intensity.as_mut(), range.clone());
        let jobs: Vec<Block<'_>> = self.positions[range]
            .chunks_mut(BLOCK_RECORDS)
            .zip(chunk.chunks(BLOCK_RECORDS * stride))
            .map(|(positions, records)| Block {
                records,
                positions,
                normals: normals.next().flatten(),
                colors: colors.next().flatten(),
                intensity: intensity.next().flatten(),
            })
            .collect();
        debug_assert_eq!(jobs.len(), blocks(count));
        let stats = jobs
            .into_par_iter()
            .map(|block| block.decode(layout, place))
            .reduce(|| PositionStats::EMPTY, PositionStats::merge);
        self.stats = self.stats.merge(stats);
    }

    fn first_finite(&self, chunk: &[u8]) -> Option<[f64; 3]> {
        let layout = &self.layout;
        chunk
            .chunks_exact(layout.stride)
            .map(|r| {
                let p = layout
                    .position
                    .map(|f| f.kind.load(&r[f.offset..], layout.big_endian));
                let p = match layout.position_transform {
                    Some(t) => [0, 1, 2].map(|a| t[a].0 * p[a] + t[a].1),
                    None => p,
                };
                p.map(|c| c * self.scale)
            })
            .find(|p| p.iter().all(|c| c.is_finite()))
            .map(crate::raw::origin_of)
    }

    /// For LAS colours: `Some(true)` when the values use 16 bits, `Some(false)` when all fit in 8.
    pub fn sixteen_bit_colors(&self) -> Option<bool> {
        match self.layout.colors {
            Some(Colors::Wide { sixteen_bit, .. }) => Some(sixteen_bit),
            _ => None,
        }
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// The cloud, with points whose coordinates were not finite removed and counted, and normals
    /// normalized (or all left out when one has no direction, as [`crate::raw::to_cloud`] does).
    pub fn finish(self) -> Converted<PointCloud> {
        let Self {
            mut positions,
            mut normals,
            mut colors,
            mut intensity,
            stats,
            origin_m,
            filled,
            ..
        } = self;
        // Fewer records than declared only when the caller stops early; the arrays then end there.
        positions.truncate(filled);
        if let Some(v) = normals.as_mut() {
            v.truncate(filled);
        }
        if let Some(v) = colors.as_mut() {
            v.truncate(filled);
        }
        if let Some(v) = intensity.as_mut() {
            v.truncate(filled);
        }
        if stats.dropped > 0 {
            let keep: Vec<bool> = positions.iter().map(|p| p[0].is_finite()).collect();
            retain_by(&mut positions, &keep);
            if let Some(v) = normals.as_mut() {
                retain_by(v, &keep);
            }
            if let Some(v) = colors.as_mut() {
                retain_by(v, &keep);
            }
            if let Some(v) = intensity.as_mut() {
                retain_by(v, &keep);
            }
        }
        let (normals, invalid_normals) = crate::raw::unit_normals(normals);
        Converted {
            geometry: PointCloud {
                origin_m: origin_m.unwrap_or([0.0; 3]),
                positions,
                normals,
                colors_srgb: colors,
                intensity,
            },
            max_rounding_m: stats.max_rounding_sq.sqrt(),
            invalid_normals,
            normals_recomputed: 0,
            non_finite_dropped: stats.dropped,
            triangles_dropped: 0,
        }
    }
}

fn retain_by<T>(values: &mut Vec<T>, keep: &[bool]) {
    let mut flags = keep.iter();
    values.retain(|_| flags.next().copied().unwrap_or(false));
}

/// Blocks of `BLOCK_RECORDS` of an optional attribute array within `range`, or endless `None`.
fn split<T>(
    values: Option<&mut Vec<T>>,
    range: std::ops::Range<usize>,
) -> impl Iterator<Item = Option<&mut [T]>> {
    let mut blocks = values.map(|v| v[range].chunks_mut(BLOCK_RECORDS));
    std::iter::from_fn(move || Some(blocks.as_mut().and_then(Iterator::next)))
}

/// The largest red, green or blue value of LAS records.
fn widest_color(chunk: &[u8], stride: usize, offset: usize) -> u16 {
    chunk
        .par_chunks(BLOCK_RECORDS * stride)
        .map(|records| {
            records
                .chunks_exact(stride)
                .flat_map(|r| {
                    (0..3).map(move |c| {
                        u16::from_le_bytes([r[offset + 2 * c], r[offset + 2 * c + 1]])
                    })
                })
                .max()
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

fn sixteen_to_eight(v: u16) -> u8 {
    (f64::from(v) / 257.0).round() as u8
}

/// How positions are stored: `value × scale − origin`, as f32.
#[derive(Clone, Copy, Debug)]
struct Placement {
    scale: f64,
    origin: [f64; 3],
}

/// One parallel job: a block of records and the parts of the arrays they fill.
struct Block<'a> {
    records: &'a [u8],
    positions: &'a mut [[f32; 3]],
    normals: Option<&'a mut [[f32; 3]]>,
    colors: Option<&'a mut [[u8; 4]]>,
    intensity: Option<&'a mut [f32]>,
}

impl Block<'_> {
    fn decode(self, layout: &RecordLayout, place: Placement) -> PositionStats {
        let (stride, big) = (layout.stride, layout.big_endian);
        let stats = block_positions(self.records, layout, place, self.positions);
        if let (Some(out), Some(fields)) = (self.normals, layout.normal) {
            block_normals(self.records, stride, big, fields, out);
        }
        if let (Some(out), Some(colors)) = (self.colors, layout.colors) {
            block_colors(self.records, stride, big, colors, out);
        }
        if let (Some(out), Some(field)) = (self.intensity, layout.intensity) {
            block_intensity(self.records, stride, big, field, out);
        }
        stats
    }
}

/// Positions in metres relative to the origin, as f32, with the largest rounding.
/// A point with a coordinate that is not finite (or too large for f32 once placed) is stored as NaN
/// and counted, for [`RecordSink::finish`] to remove.
fn block_positions(
    records: &[u8],
    layout: &RecordLayout,
    place: Placement,
    out: &mut [[f32; 3]],
) -> PositionStats {
    let [x, y, z] = layout.position;
    let (stride, big) = (layout.stride, layout.big_endian);
    if let Some(t) = layout.position_transform {
        // LAS: exactly the `las` crate's `scale * f64::from(n) + offset`.
        return place_all(records, stride, out, place, |r: &[u8]| {
            let n = [x, y, z].map(|f| f.kind.load(&r[f.offset..], big));
            [0, 1, 2].map(|a| t[a].0 * n[a] + t[a].1)
        });
    }
    if x.kind == y.kind && y.kind == z.kind {
        // The common case: one type for all three, read by a loop made for it.
        with_type!(x.kind, T => {
            place_all(records, stride, out, place, |r: &[u8]| {
                [x.offset, y.offset, z.offset].map(|o| T::load(&r[o..], big))
            })
        })
    } else {
        place_all(records, stride, out, place, |r: &[u8]| {
            [x, y, z].map(|f| f.kind.load(&r[f.offset..], big))
        })
    }
}

/// The position loop, with `read` inlined into it.
#[inline]
fn place_all(
    records: &[u8],
    stride: usize,
    out: &mut [[f32; 3]],
    place: Placement,
    read: impl Fn(&[u8]) -> [f64; 3],
) -> PositionStats {
    let Placement { scale, origin } = place;
    let mut stats = PositionStats::EMPTY;
    for (slot, record) in out.iter_mut().zip(records.chunks_exact(stride)) {
        let p = read(record);
        let relative = [0, 1, 2].map(|a| p[a] * scale - origin[a]);
        let stored = relative.map(|c| c as f32);
        if !(stored[0].is_finite() && stored[1].is_finite() && stored[2].is_finite()) {
            stats.dropped += 1;
            *slot = [f32::NAN; 3];
            continue;
        }
        let d = [0, 1, 2].map(|a| f64::from(stored[a]) - relative[a]);
        // The square root is taken once, in `finish`: the largest square gives the largest length.
        stats.max_rounding_sq = stats
            .max_rounding_sq
            .max(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        *slot = stored;
    }
    stats
}

/// `out[i] = value(record i)` over one block.
#[inline]
fn each_record<O>(records: &[u8], stride: usize, out: &mut [O], value: impl Fn(&[u8]) -> O) {
    for (slot, record) in out.iter_mut().zip(records.chunks_exact(stride)) {
        *slot = value(record);
    }
}

fn block_normals(
    records: &[u8],
    stride: usize,
    big: bool,
    fields: [Field; 3],
    out: &mut [[f32; 3]],
) {
    let [x, y, z] = fields;
    if x.kind == y.kind && y.kind == z.kind {
        with_type!(x.kind, T => each_record(records, stride, out, |r| {
            [x.offset, y.offset, z.offset].map(|o| T::load(&r[o..], big) as f32)
        }));
    } else {
        each_record(records, stride, out, |r| {
            fields.map(|f| f.kind.load(&r[f.offset..], big) as f32)
        });
    }
}

fn block_intensity(records: &[u8], stride: usize, big: bool, field: Field, out: &mut [f32]) {
    with_type!(field.kind, T => each_record(records, stride, out, |r| {
        T::load(&r[field.offset..], big) as f32
    }));
}

fn block_colors(records: &[u8], stride: usize, big: bool, colors: Colors, out: &mut [[u8; 4]]) {
    match colors {
        Colors::Packed { offset, alpha } => each_record(records, stride, out, |r| {
            let bits = u32::from_le_bytes([r[offset], r[offset + 1], r[offset + 2], r[offset + 3]]);
            let a = if alpha { (bits >> 24) as u8 } else { 255 };
            [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8, a]
        }),
        Colors::Wide {
            offset,
            sixteen_bit,
        } => each_record(records, stride, out, |r| {
            let c = |k: usize| u16::from_le_bytes([r[offset + 2 * k], r[offset + 2 * k + 1]]);
            if sixteen_bit {
                [
                    sixteen_to_eight(c(0)),
                    sixteen_to_eight(c(1)),
                    sixteen_to_eight(c(2)),
                    255,
                ]
            } else {
                [c(0) as u8, c(1) as u8, c(2) as u8, 255]
            }
        }),
        Colors::Channels(channels) => {
            if channels.iter().flatten().all(|f| f.kind == Scalar::U8) {
                // Bytes are already sRGB: copied, no arithmetic.
                each_record(records, stride, out, |r| {
                    channels.map(|c| c.map_or(255, |f| r[f.offset]))
                });
            } else {
                each_record(records, stride, out, |r| {
                    channels.map(|c| {
                        c.map_or(255, |f| {
                            (f.kind.load(&r[f.offset..], big) * f.kind.color_scale())
                                .round()
                                .clamp(0.0, 255.0) as u8
                        })
                    })
                });
            }
        }
    }
}

/// Run a block decoder over a whole buffer of records in parallel (the in-memory readers' entry).
fn in_parallel<O: Send>(
    bytes: &[u8],
    stride: usize,
    out: &mut [O],
    decode: impl Fn(&[u8], &mut [O]) + Sync,
) {
    out.par_chunks_mut(BLOCK_RECORDS)
        .zip(bytes.par_chunks(BLOCK_RECORDS * stride))
        .for_each(|(out, records)| decode(records, out));
}

pub(crate) fn decode_normals(
    bytes: &[u8],
    stride: usize,
    big: bool,
    fields: [Field; 3],
    out: &mut [[f32; 3]],
) {
    in_parallel(bytes, stride, out, |r, o| {
        block_normals(r, stride, big, fields, o);
    });
}

pub(crate) fn decode_intensity(
    bytes: &[u8],
    stride: usize,
    big: bool,
    field: Field,
    out: &mut [f32],
) {
    in_parallel(bytes, stride, out, |r, o| {
        block_intensity(r, stride, big, field, o);
    });
}

pub(crate) fn decode_colors(
    bytes: &[u8],
    stride: usize,
    big: bool,
    colors: Colors,
    out: &mut [[u8; 4]],
) {
    in_parallel(bytes, stride, out, |r, o| {
        block_colors(r, stride, big, colors, o);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(x: f32, y: f32, z: f32, rgb: [u8; 3]) -> Vec<u8> {
        let mut r = Vec::new();
        for v in [x, y, z] {
            r.extend(v.to_le_bytes());
        }
        r.extend(rgb);
        r
    }

    fn layout() -> RecordLayout {
        let f = |offset| Field {
            offset,
            kind: Scalar::F32,
        };
        let u = |offset| {
            Some(Field {
                offset,
                kind: Scalar::U8,
            })
        };
        RecordLayout {
            stride: 15,
            big_endian: false,
            position: [f(0), f(4), f(8)],
            position_transform: None,
            normal: None,
            colors: Some(Colors::Channels([u(12), u(13), u(14), None])),
            intensity: None,
        }
    }

    #[test]
    fn chunks_of_any_size_give_the_same_cloud() {
        let mut bytes = Vec::new();
        for i in 0..50_000 {
            let x = i as f32 * 0.001;
            let z = if i % 7 == 3 { f32::NAN } else { 2.5 };
            bytes.extend(record(x, -x, z, [i as u8, 1, 2]));
        }
        let whole = {
            let mut sink = RecordSink::new(layout(), 50_000, 1.0);
            sink.push(&bytes);
            sink.finish()
        };
        let pieces = {
            let mut sink = RecordSink::new(layout(), 50_000, 1.0);
            for piece in bytes.chunks(15 * 997) {
                sink.push(piece);
            }
            sink.finish()
        };
        assert_eq!(whole, pieces);
        let dropped = (0..50_000).filter(|i| i % 7 == 3).count();
        assert_eq!(whole.non_finite_dropped, dropped as u64);
        assert_eq!(whole.geometry.positions.len(), 50_000 - dropped);
        assert_eq!(
            whole.geometry.colors_srgb.as_ref().unwrap()[1],
            [1, 1, 2, 255]
        );
    }

    #[test]
    fn a_file_that_starts_with_empty_pixels_takes_its_origin_from_the_first_real_point() {
        let mut bytes = record(f32::NAN, 0.0, 0.0, [0; 3]);
        bytes.extend(record(1000.4, 2000.6, -5.0, [0; 3]));
        let mut sink = RecordSink::new(layout(), 2, 1.0);
        sink.push(&bytes);
        let cloud = sink.finish();
        assert_eq!(cloud.geometry.origin_m, [1000.0, 2001.0, -5.0]);
        assert_eq!(cloud.non_finite_dropped, 1);
    }

    #[test]
    fn las_colours_switch_to_sixteen_bit_at_the_first_large_value_and_rescale_what_came_before() {
        let las_record = |rgb: [u16; 3]| {
            let mut r = vec![0u8; 12];
            for c in rgb {
                r.extend(c.to_le_bytes());
            }
            r
        };
        let i32_at = |offset| Field {
            offset,
            kind: Scalar::I32,
        };
        let layout = RecordLayout {
            stride: 18,
            big_endian: false,
            position: [i32_at(0), i32_at(4), i32_at(8)],
            position_transform: Some([(0.01, 100.0); 3]),
            normal: None,
            colors: Some(Colors::Wide {
                offset: 12,
                sixteen_bit: false,
            }),
            intensity: None,
        };
        let mut sink = RecordSink::new(layout, 3, 1.0);
        sink.push(&las_record([200, 128, 255]));
        assert_eq!(sink.sixteen_bit_colors(), Some(false));
        let mut rest = las_record([65535, 257, 0]);
        rest.extend(las_record([129, 0, 1000]));
        sink.push(&rest);
        assert_eq!(sink.sixteen_bit_colors(), Some(true));
        let cloud = sink.finish().geometry;
        let eight = |v: u16| (f64::from(v) / 257.0).round() as u8;
        assert_eq!(
            cloud.colors_srgb.unwrap(),
            vec![
                [eight(200), eight(128), eight(255), 255],
                [255, 1, 0, 255],
                [eight(129), 0, eight(1000), 255]
            ]
        );
        assert_eq!(cloud.origin_m, [100.0; 3]);
    }
}
