//! meshoptimizer's decoders in plain Rust, for targets where the C++ library cannot be built (the web
//! viewer's wasm32). Native builds decode with the `meshopt` crate; the tests here hold this module to the
//! same bytes as that one on every stream the encoder writes, and on random data.
//!
//! Covered: the vertex codec version 0 (what exhibit writes; version 1 streams are refused by name), the
//! index codec versions 0 and 1, index sequences, and the OCTAHEDRAL, QUATERNION and EXPONENTIAL filters.
//! The formats are meshoptimizer's (MIT, Arseny Kapoulkine), described in its `vertexcodec.cpp` and
//! `indexcodec.cpp` and in the `EXT_meshopt_compression` specification. Every read is bounds-checked: bad
//! input is an error, never a panic.

use std::fmt;

/// Why a stream does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DecodeError {}

const VERTEX_HEADER: u8 = 0xa0;
const INDEX_HEADER: u8 = 0xe0;
const SEQUENCE_HEADER: u8 = 0xd0;
const VERTEX_BLOCK_MAX: usize = 256;
const VERTEX_BLOCK_BYTES: usize = 8192;
const BYTE_GROUP: usize = 16;
const BYTE_GROUP_DECODE_LIMIT: usize = 24;
const TAIL_MIN: usize = 32;

/// Decode `count` vertices of `size` bytes each (a multiple of 4, at most 256) into bytes.
///
/// # Errors
/// When the stream is not a version-0 vertex stream of exactly that many vertices.
pub fn decode_vertex_buffer(
    source: &[u8],
    count: usize,
    size: usize,
) -> Result<Vec<u8>, DecodeError> {
    if size == 0 || size > 256 || !size.is_multiple_of(4) {
        return Err(DecodeError("vertex size is not a multiple of 4 up to 256"));
    }
    let tail = size.max(TAIL_MIN);
    if source.len() < 1 + tail {
        return Err(DecodeError(
            "vertex stream shorter than its header and tail",
        ));
    }
    match source[0] {
        VERTEX_HEADER => {}
        0xa1 => {
            return Err(DecodeError(
                "vertex codec version 1 is not supported by this decoder",
            ));
        }
        _ => return Err(DecodeError("not a meshopt vertex stream")),
    }
    let mut out = vec![
        0u8;
        count
            .checked_mul(size)
            .ok_or(DecodeError("too many vertices"))?
    ];
    let mut last = [0u8; 256];
    last[..size].copy_from_slice(&source[source.len() - size..]);
    let block = ((VERTEX_BLOCK_BYTES / size) & !15).min(VERTEX_BLOCK_MAX);
    // The groups may read up to the start of the tail, never into it.
    let end = source.len() - tail;
    let mut at = 1;
    let mut deltas = [0u8; VERTEX_BLOCK_MAX];
    let mut offset = 0;
    while offset < count {
        let n = block.min(count - offset);
        let aligned = (n + 15) & !15;
        let target = &mut out[offset * size..(offset + n) * size];
        for k in 0..size {
            at = decode_bytes(source, at, end + tail, &mut deltas[..aligned])?;
            let mut previous = last[k];
            for (i, &delta) in deltas[..n].iter().enumerate() {
                let value = unzigzag8(delta).wrapping_add(previous);
                target[i * size + k] = value;
                previous = value;
            }
        }
        last[..size].copy_from_slice(&target[(n - 1) * size..n * size]);
        offset += n;
    }
    if at != end {
        return Err(DecodeError("vertex stream has bytes left over"));
    }
    Ok(out)
}

fn unzigzag8(v: u8) -> u8 {
    (0u8.wrapping_sub(v & 1)) ^ (v >> 1)
}

/// One run of byte groups: a 2-bit width per group of 16 bytes (0, 2, 4 or 8 bits), then the groups.
fn decode_bytes(
    source: &[u8],
    mut at: usize,
    end: usize,
    buffer: &mut [u8],
) -> Result<usize, DecodeError> {
    let short = DecodeError("vertex stream ends inside a block");
    let groups = buffer.len() / BYTE_GROUP;
    let header_len = groups.div_ceil(4);
    let header = source.get(at..at + header_len).ok_or(short.clone())?;
    at += header_len;
    for (g, group) in buffer.chunks_exact_mut(BYTE_GROUP).enumerate() {
        if end.saturating_sub(at) < BYTE_GROUP_DECODE_LIMIT {
            return Err(short);
        }
        let width = (header[g / 4] >> ((g % 4) * 2)) & 3;
        at = decode_group(source, at, group, width).ok_or(short.clone())?;
    }
    Ok(at)
}

/// One group of 16 bytes at `1 << width` bits each (width 0: zeros; 3: raw bytes); a value of all ones is
/// an escape whose byte follows the packed part.
fn decode_group(source: &[u8], at: usize, group: &mut [u8], width: u8) -> Option<usize> {
    match width {
        0 => {
            group.fill(0);
            Some(at)
        }
        1 | 2 => {
            let bits = 1usize << width;
            let packed = BYTE_GROUP * bits / 8;
            let codes = source.get(at..at + packed)?;
            let mut extra = at + packed;
            let all_ones = (1u8 << bits) - 1;
            let per_byte = 8 / bits;
            for (i, slot) in group.iter_mut().enumerate() {
                let shift = 8 - bits * (i % per_byte + 1);
                let code = (codes[i / per_byte] >> shift) & all_ones;
                *slot = if code == all_ones {
                    let byte = *source.get(extra)?;
                    extra += 1;
                    byte
                } else {
                    code
                };
            }
            Some(extra)
        }
        _ => {
            group.copy_from_slice(source.get(at..at + BYTE_GROUP)?);
            Some(at + BYTE_GROUP)
        }
    }
}

/// Decode a triangle list of `count` indices (a multiple of 3).
///
/// # Errors
/// When the stream is not an index stream of exactly that many indices.
pub fn decode_index_buffer(source: &[u8], count: usize) -> Result<Vec<u32>, DecodeError> {
    if !count.is_multiple_of(3) {
        return Err(DecodeError("index count is not a multiple of 3"));
    }
    if source.len() < 1 + count / 3 + 16 {
        return Err(DecodeError("index stream shorter than its codes and table"));
    }
    if source[0] & 0xf0 != INDEX_HEADER || source[0] & 0x0f > 1 {
        return Err(DecodeError("not a meshopt index stream of version 0 or 1"));
    }
    let version = source[0] & 0x0f;
    let short = DecodeError("index stream ends early");
    let mut out = Vec::with_capacity(count);
    let mut edges = [[u32::MAX; 2]; 16];
    let mut vertices = [u32::MAX; 16];
    let (mut edge_at, mut vertex_at) = (0usize, 0usize);
    let (mut next, mut last) = (0u32, 0u32);
    let fec_max: u8 = if version >= 1 { 13 } else { 15 };
    let codes = &source[1..=count / 3];
    let safe_end = source.len() - 16;
    let table = &source[safe_end..];
    let mut data = 1 + count / 3;
    let push_edge = |edges: &mut [[u32; 2]; 16], at: &mut usize, a: u32, b: u32| {
        edges[*at] = [a, b];
        *at = (*at + 1) & 15;
    };
    let push_vertex = |vertices: &mut [u32; 16], at: &mut usize, v: u32, advance: bool| {
        vertices[*at] = v;
        *at = (*at + usize::from(advance)) & 15;
    };
    for &code in codes {
        if data > safe_end {
            return Err(short);
        }
        let (a, b, c);
        if code < 0xf0 {
            let fe = usize::from(code >> 4);
            [a, b] = edges[(edge_at.wrapping_sub(1 + fe)) & 15];
            let fec = code & 15;
            if fec < fec_max {
                c = if fec == 0 {
                    next
                } else {
                    vertices[(vertex_at.wrapping_sub(1 + usize::from(fec))) & 15]
                };
                if fec == 0 {
                    next = next.wrapping_add(1);
                }
                push_vertex(&mut vertices, &mut vertex_at, c, fec == 0);
            } else {
                c = if fec == 15 {
                    decode_index(source, &mut data, last, safe_end + 16)?
                } else if fec == 13 {
                    last.wrapping_sub(1)
                } else {
                    last.wrapping_add(1)
                };
                last = c;
                push_vertex(&mut vertices, &mut vertex_at, c, true);
            }
            push_edge(&mut edges, &mut edge_at, c, b);
            push_edge(&mut edges, &mut edge_at, a, c);
        } else {
            let (fea, feb, fec);
            if code < 0xfe {
                let aux = table[usize::from(code & 15)];
                (fea, feb, fec) = (0u8, aux >> 4, aux & 15);
            } else {
                let aux = *source.get(data).ok_or(short.clone())?;
                data += 1;
                if aux == 0 {
                    next = 0;
                }
                (fea, feb, fec) = (if code == 0xfe { 0 } else { 15 }, aux >> 4, aux & 15);
            }
            let mut take = |fe: u8| -> u32 {
                if fe == 0 {
                    let v = next;
                    next = next.wrapping_add(1);
                    v
                } else {
                    vertices[(vertex_at.wrapping_sub(usize::from(fe))) & 15]
                }
            };
            let mut fa = if fea == 0 { take(0) } else { 0 };
            let mut fb = take(feb);
            let mut fc = take(fec);
            if code >= 0xfe {
                for (fe, v) in [(fea, &mut fa), (feb, &mut fb), (fec, &mut fc)] {
                    if fe == 15 {
                        last = decode_index(source, &mut data, last, safe_end + 16)?;
                        *v = last;
                    }
                }
            }
            (a, b, c) = (fa, fb, fc);
            let kept = |fe: u8| fe == 0 || (code >= 0xfe && fe == 15);
            push_vertex(&mut vertices, &mut vertex_at, a, true);
            push_vertex(&mut vertices, &mut vertex_at, b, kept(feb));
            push_vertex(&mut vertices, &mut vertex_at, c, kept(fec));
            push_edge(&mut edges, &mut edge_at, b, a);
            push_edge(&mut edges, &mut edge_at, c, b);
            push_edge(&mut edges, &mut edge_at, a, c);
        }
        out.extend_from_slice(&[a, b, c]);
    }
    if data != safe_end {
        return Err(DecodeError("index stream has bytes left over"));
    }
    Ok(out)
}

/// A zigzag varint delta from `last`.
fn decode_index(source: &[u8], at: &mut usize, last: u32, end: usize) -> Result<u32, DecodeError> {
    let v = decode_vbyte(source, at, end)?;
    let delta = (v >> 1) ^ 0u32.wrapping_sub(v & 1);
    Ok(last.wrapping_add(delta))
}

fn decode_vbyte(source: &[u8], at: &mut usize, end: usize) -> Result<u32, DecodeError> {
    let mut byte = || -> Result<u32, DecodeError> {
        if *at >= end {
            return Err(DecodeError("stream ends inside a number"));
        }
        let b = *source
            .get(*at)
            .ok_or(DecodeError("stream ends inside a number"))?;
        *at += 1;
        Ok(u32::from(b))
    };
    let lead = byte()?;
    if lead < 128 {
        return Ok(lead);
    }
    let mut result = lead & 127;
    let mut shift = 7;
    for _ in 0..4 {
        let group = byte()?;
        result |= (group & 127).wrapping_shl(shift);
        shift += 7;
        if group < 128 {
            break;
        }
    }
    Ok(result)
}

/// Decode an index sequence (any primitive mode) of `count` indices.
///
/// # Errors
/// When the stream is not a sequence of exactly that many indices.
pub fn decode_index_sequence(source: &[u8], count: usize) -> Result<Vec<u32>, DecodeError> {
    if source.len() < 1 + 4 {
        return Err(DecodeError(
            "index sequence shorter than its header and tail",
        ));
    }
    if source[0] & 0xf0 != SEQUENCE_HEADER || source[0] & 0x0f > 1 {
        return Err(DecodeError("not a meshopt index sequence"));
    }
    let safe_end = source.len() - 4;
    let mut at = 1;
    let mut last = [0u32; 2];
    let mut out = Vec::with_capacity(count.min(source.len() * 8));
    for _ in 0..count {
        if at >= safe_end {
            return Err(DecodeError("index sequence ends early"));
        }
        let v = decode_vbyte(source, &mut at, source.len())?;
        let baseline = (v & 1) as usize;
        let v = v >> 1;
        let delta = (v >> 1) ^ 0u32.wrapping_sub(v & 1);
        last[baseline] = last[baseline].wrapping_add(delta);
        out.push(last[baseline]);
    }
    if at != safe_end {
        return Err(DecodeError("index sequence has bytes left over"));
    }
    Ok(out)
}

/// Undo the OCTAHEDRAL filter on 4-byte (`i8`) or 8-byte (`i16`) normals, in place, little-endian.
///
/// # Errors
/// When the stride is neither.
pub fn decode_filter_oct(data: &mut [u8], stride: usize) -> Result<(), DecodeError> {
    let (bytes, max) = match stride {
        4 => (1, 127.0f32),
        8 => (2, 32767.0f32),
        _ => return Err(DecodeError("OCTAHEDRAL needs a stride of 4 or 8")),
    };
    let read = |v: &[u8], k: usize| -> f32 {
        if bytes == 1 {
            f32::from(v[k].cast_signed())
        } else {
            f32::from(i16::from_le_bytes([v[2 * k], v[2 * k + 1]]))
        }
    };
    for v in data.chunks_exact_mut(stride) {
        let mut x = read(v, 0);
        let mut y = read(v, 1);
        let z = read(v, 2) - x.abs() - y.abs();
        let t = if z >= 0.0 { 0.0 } else { z };
        x += if x >= 0.0 { t } else { -t };
        y += if y >= 0.0 { t } else { -t };
        let s = max / (x * x + y * y + z * z).sqrt();
        for (k, value) in [x, y, z].into_iter().enumerate() {
            let rounded = round_half_away(value * s);
            if bytes == 1 {
                v[k] = rounded as i8 as u8;
            } else {
                v[2 * k..2 * k + 2].copy_from_slice(&(rounded as i16).to_le_bytes());
            }
        }
    }
    Ok(())
}

/// C's `int(v + (v >= 0 ? 0.5 : -0.5))`.
#[allow(
    clippy::cast_possible_truncation,
    reason = "the filters' values are within ±32767 by construction"
)]
fn round_half_away(v: f32) -> i32 {
    (v + if v >= 0.0 { 0.5 } else { -0.5 }) as i32
}

/// Undo the QUATERNION filter on 8-byte (`i16`) quaternions, in place.
///
/// # Errors
/// When the stride is not 8.
pub fn decode_filter_quat(data: &mut [u8], stride: usize) -> Result<(), DecodeError> {
    if stride != 8 {
        return Err(DecodeError("QUATERNION needs a stride of 8"));
    }
    let scale = 1.0 / 2f32.sqrt();
    for v in data.chunks_exact_mut(8) {
        let q: [i16; 4] = std::array::from_fn(|k| i16::from_le_bytes([v[2 * k], v[2 * k + 1]]));
        let ss = scale / f32::from(q[3] | 3);
        let (x, y, z) = (
            f32::from(q[0]) * ss,
            f32::from(q[1]) * ss,
            f32::from(q[2]) * ss,
        );
        let ww = 1.0 - x * x - y * y - z * z;
        let w = if ww >= 0.0 { ww } else { 0.0 }.sqrt();
        let qc = (q[3] & 3) as usize;
        let mut out = [0i16; 4];
        out[(qc + 1) & 3] = round_half_away(x * 32767.0) as i16;
        out[(qc + 2) & 3] = round_half_away(y * 32767.0) as i16;
        out[(qc + 3) & 3] = round_half_away(z * 32767.0) as i16;
        out[qc] = round_half_away(w * 32767.0) as i16;
        for (k, value) in out.iter().enumerate() {
            v[2 * k..2 * k + 2].copy_from_slice(&value.to_le_bytes());
        }
    }
    Ok(())
}

/// Undo the EXPONENTIAL filter (24-bit mantissa, 8-bit exponent per 4 bytes) in place.
pub fn decode_filter_exp(data: &mut [u8]) {
    for v in data.chunks_exact_mut(4) {
        let bits = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let mantissa = (bits << 8).cast_signed() >> 8;
        let exponent = bits.cast_signed() >> 24;
        let scale = f32::from_bits(((exponent + 127) as u32) << 23);
        v.copy_from_slice(&(scale * mantissa as f32).to_bits().to_le_bytes());
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn vertex_streams_decode_as_the_library_decodes_them() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for (count, words) in [
            (1, 1),
            (15, 3),
            (16, 2),
            (17, 4),
            (255, 3),
            (256, 5),
            (1000, 4),
            (5000, 2),
            (700, 64),
        ] {
            // Smooth data (what meshes give) and noise, so every group width occurs.
            let data: Vec<[u32; 64]> = (0..count)
                .map(|i| {
                    std::array::from_fn(|k| {
                        if k % 2 == 0 {
                            (i as u32 * 7 + k as u32) & 0xffff
                        } else {
                            noise.next() as u32
                        }
                    })
                })
                .collect();
            let bytes: Vec<u8> = data
                .iter()
                .flat_map(|v| v[..words].iter().flat_map(|w| w.to_le_bytes()))
                .collect();
            let size = words * 4;
            let encoded = match words {
                1 => meshopt::encode_vertex_buffer_level(
                    bytemuck::cast_slice::<u8, [u8; 4]>(&bytes),
                    2,
                    Some(0),
                ),
                2 => meshopt::encode_vertex_buffer_level(
                    bytemuck::cast_slice::<u8, [u8; 8]>(&bytes),
                    2,
                    Some(0),
                ),
                3 => meshopt::encode_vertex_buffer_level(
                    bytemuck::cast_slice::<u8, [u8; 12]>(&bytes),
                    2,
                    Some(0),
                ),
                4 => meshopt::encode_vertex_buffer_level(
                    bytemuck::cast_slice::<u8, [u8; 16]>(&bytes),
                    2,
                    Some(0),
                ),
                5 => meshopt::encode_vertex_buffer_level(
                    bytemuck::cast_slice::<u8, [u8; 20]>(&bytes),
                    2,
                    Some(0),
                ),
                _ => meshopt::encode_vertex_buffer_level(
                    bytemuck::cast_slice::<u8, [u8; 256]>(&bytes),
                    2,
                    Some(0),
                ),
            }
            .unwrap();
            assert_eq!(
                decode_vertex_buffer(&encoded, count, size).unwrap(),
                bytes,
                "{count} × {size}"
            );
            // Any cut is an error, not a panic or a wrong answer.
            for cut in [1, 2, encoded.len() / 2, encoded.len() - 1] {
                assert!(decode_vertex_buffer(&encoded[..cut], count, size).is_err());
            }
        }
    }

    #[test]
    fn index_streams_decode_as_the_library_decodes_them() {
        let mut noise = Noise(7);
        for triangles in [1usize, 2, 10, 333, 5000] {
            // A strip-like mesh (the fifo paths) with random triangles mixed in (the free-index paths).
            let mut indices = Vec::new();
            for t in 0..triangles as u32 {
                if noise.next().is_multiple_of(5) {
                    indices.extend([0, 1, 2].map(|_| (noise.next() % 3000) as u32));
                } else {
                    indices.extend([t, t + 1, t + 2]);
                }
            }
            let vertices = indices.iter().max().map_or(0, |m| *m as usize + 1);
            let encoded = meshopt::encode_index_buffer(&indices, vertices).unwrap();
            // The encoder may rotate a triangle's corners; both decoders must give the same result.
            let library: Vec<u32> = meshopt::decode_index_buffer(&encoded, indices.len()).unwrap();
            assert!(decode_index_buffer(&encoded, indices.len()).unwrap() == library);
            for cut in [1, encoded.len() / 2, encoded.len() - 1] {
                assert!(decode_index_buffer(&encoded[..cut], indices.len()).is_err());
            }
            let sequence = meshopt::encode_index_sequence(&indices, vertices).unwrap();
            assert_eq!(
                decode_index_sequence(&sequence, indices.len()).unwrap(),
                indices
            );
            assert!(decode_index_sequence(&sequence[..sequence.len() - 1], indices.len()).is_err());
        }
    }

    /// The library's SIMD filters use an approximate reciprocal square root and round half to even, its
    /// scalar ones (which this module follows) an exact root and round half away: a component may differ by
    /// one unit (1/127 of a unit normal for 8 bits), which shading cannot show. Positions are never filtered.
    fn within_one<T: Copy + Into<i32>>(ours: &[T], library: &[T]) {
        assert_eq!(ours.len(), library.len());
        let worst = ours
            .iter()
            .zip(library)
            .map(|(a, b)| ((*a).into() - (*b).into()).abs())
            .max()
            .unwrap_or(0);
        assert!(worst <= 1, "differs by {worst}");
    }

    #[test]
    fn filters_match_the_library() {
        let mut noise = Noise(99);
        let mut unit = |n: usize| -> Vec<[f32; 4]> {
            (0..n)
                .map(|_| {
                    let mut v = [0f32; 4];
                    for c in &mut v {
                        *c = (noise.next() % 20_001) as f32 / 10_000.0 - 1.0;
                    }
                    let l = v.iter().map(|c| c * c).sum::<f32>().sqrt().max(1e-6);
                    v.map(|c| c / l)
                })
                .collect()
        };
        let normals = unit(4000);
        let mut small: Vec<[i8; 4]> = meshopt::encode_filter_oct(&normals, 8);
        let mut ours: Vec<u8> = bytemuck::cast_slice(&small).to_vec();
        meshopt::decode_filter_oct(&mut small);
        decode_filter_oct(&mut ours, 4).unwrap();
        within_one(
            bytemuck::cast_slice::<u8, i8>(&ours),
            bytemuck::cast_slice::<[i8; 4], i8>(&small),
        );
        let mut wide: Vec<[i16; 4]> = meshopt::encode_filter_oct(&normals, 16);
        let mut ours: Vec<u8> = bytemuck::cast_slice(&wide).to_vec();
        meshopt::decode_filter_oct(&mut wide);
        decode_filter_oct(&mut ours, 8).unwrap();
        within_one(
            bytemuck::cast_slice::<u8, i16>(&ours),
            bytemuck::cast_slice::<[i16; 4], i16>(&wide),
        );
        let mut quats = meshopt::encode_filter_quat(&unit(4000), 12);
        let mut ours: Vec<u8> = bytemuck::cast_slice(&quats).to_vec();
        meshopt::decode_filter_quat(&mut quats);
        decode_filter_quat(&mut ours, 8).unwrap();
        within_one(
            bytemuck::cast_slice::<u8, i16>(&ours),
            bytemuck::cast_slice::<[i16; 4], i16>(&quats),
        );
        let values: Vec<[f32; 1]> = (0..4000)
            .map(|i| [(i as f32 - 2000.0) * 0.37e-3 * (1 + i % 7) as f32])
            .collect();
        let mut exps = meshopt::encode_filter_exp(&values, 15, meshopt::EncodeExpMode::Separate);
        let mut ours: Vec<u8> = bytemuck::cast_slice(&exps).to_vec();
        meshopt::decode_filter_exp(&mut exps);
        decode_filter_exp(&mut ours);
        assert!(ours == bytemuck::cast_slice::<[u32; 1], u8>(&exps));
    }
}
