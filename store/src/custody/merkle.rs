//! The Merkle tree of RFC 6962 (Certificate Transparency), section 2.1: leaf hash `SHA-256(0x00 || leaf)`,
//! node hash `SHA-256(0x01 || left || right)`, the split at the largest power of two below the size.
//! Inclusion and consistency proofs are made and checked exactly as the RFC's algorithms (and the
//! transparency-dev/merkle library's tests) define them; the tests carry its published vectors.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of an empty tree: `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The root of the tree over `leaves` (leaf hashes).
#[must_use]
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree over `leaves` (RFC 6962 2.1.1, `PATH(m, D[n])`).
///
/// # Panics
/// When `index` is not a leaf of the tree (callers check the range first).
#[must_use]
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(
        index < leaves.len(),
        "leaf {index} of a tree of {}",
        leaves.len()
    );
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    proof
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// The consistency proof between the tree of the first `old_size` leaves and the tree over all of
/// `leaves` (RFC 6962 2.1.2, `PROOF(m, D[n])`).
///
/// # Panics
/// When `old_size` is 0 or larger than the tree.
#[must_use]
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(
        old_size >= 1 && old_size <= leaves.len(),
        "consistency from {old_size} to {}",
        leaves.len()
    );
    let mut proof = Vec::new();
    subproof(old_size, leaves, true, &mut proof);
    proof
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// A complete subtree: `2^level` leaves starting at leaf `index << level`. The store keeps the hash of every
/// complete subtree (`log_nodes`), so that a proof reads O(log² n) of them instead of every leaf.
pub type NodeId = (u32, u64);

/// The hash of leaves `start..end` from complete-subtree hashes (`node` looks one up). RFC 6962 splits a
/// range at the largest power of two below its length, so every left part is a complete, aligned subtree.
fn subtree(start: u64, end: u64, node: &mut impl FnMut(NodeId) -> Hash) -> Hash {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return node((n.trailing_zeros(), start >> n.trailing_zeros()));
    }
    let k = split(usize::try_from(n).unwrap_or(usize::MAX)) as u64;
    node_hash(
        &subtree(start, start + k, node),
        &subtree(start + k, end, node),
    )
}

/// [`inclusion_proof`] of leaf `index` in the tree of `size` leaves, from complete-subtree hashes.
pub fn inclusion_proof_from_nodes(
    index: u64,
    size: u64,
    node: &mut impl FnMut(NodeId) -> Hash,
) -> Vec<Hash> {
    let mut out = Vec::new();
    path_nodes(index, 0, size, node, &mut out);
    out
}

fn path_nodes(
    m: u64,
    start: u64,
    end: u64,
    node: &mut impl FnMut(NodeId) -> Hash,
    out: &mut Vec<Hash>,
) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(usize::try_from(n).unwrap_or(usize::MAX)) as u64;
    if m < k {
        path_nodes(m, start, start + k, node, out);
        out.push(subtree(start + k, end, node));
    } else {
        path_nodes(m - k, start + k, end, node, out);
        out.push(subtree(start, start + k, node));
    }
}

/// [`consistency_proof`] from `old_size` to `size` leaves, from complete-subtree hashes.
pub fn consistency_proof_from_nodes(
    old_size: u64,
    size: u64,
    node: &mut impl FnMut(NodeId) -> Hash,
) -> Vec<Hash> {
    let mut out = Vec::new();
    subproof_nodes(old_size, 0, size, true, node, &mut out);
    out
}

fn subproof_nodes(
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    node: &mut impl FnMut(NodeId) -> Hash,
    out: &mut Vec<Hash>,
) {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(subtree(start, end, node));
        }
        return;
    }
    let k = split(usize::try_from(n).unwrap_or(usize::MAX)) as u64;
    if m <= k {
        subproof_nodes(m, start, start + k, complete, node, out);
        out.push(subtree(start + k, end, node));
    } else {
        subproof_nodes(m - k, start + k, end, false, node, out);
        out.push(subtree(start, start + k, node));
    }
}

/// The complete-subtree hashes a tree over `leaves` has, for tests and for filling `log_nodes` once.
pub fn all_nodes(leaves: &[Hash]) -> Vec<(NodeId, Hash)> {
    let mut out: Vec<(NodeId, Hash)> = leaves
        .iter()
        .enumerate()
        .map(|(i, h)| ((0, i as u64), *h))
        .collect();
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut height = 0;
    while level.len() > 1 {
        height += 1;
        let next: Vec<Hash> = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
        out.extend(
            next.iter()
                .enumerate()
                .map(|(i, h)| ((height, i as u64), *h)),
        );
        level = next;
    }
    out
}

/// Why a proof does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is outside a tree of {size}")]
    OutOfRange { index: u64, size: u64 },
    #[error("the proof has {got} hashes, the tree's shape needs {expected}")]
    WrongLength { got: usize, expected: usize },
    #[error("the proof leads to root {computed}, not the checkpoint's {expected}")]
    RootMismatch { computed: String, expected: String },
    #[error("a tree of {new} leaves cannot extend one of {old}")]
    Shrunk { old: u64, new: u64 },
}

fn hex(h: &Hash) -> String {
    codec::manifest::hex(h)
}

/// Check that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected: inclusion_length(index, size),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected: inclusion_length(index, size),
        });
    }
    if &r != root {
        return Err(ProofError::RootMismatch {
            computed: hex(&r),
            expected: hex(root),
        });
    }
    Ok(())
}

fn inclusion_length(index: u64, size: u64) -> usize {
    let (mut fn_, mut sn, mut len) = (index, size - 1, 0);
    while sn != 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
        len += 1;
    }
    len
}

/// Check that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root` (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if new_size < old_size {
        return Err(ProofError::Shrunk {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected: 0,
            });
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch {
                computed: hex(old_root),
                expected: hex(new_root),
            });
        }
        return Ok(());
    }
    if old_size == 0 {
        // Every tree extends the empty one; there is nothing to prove.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength {
                got: proof.len(),
                expected: 0,
            })
        };
    }
    // If the old size is a power of two, the old root is the first node of the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength {
            got: 0,
            expected: 1,
        });
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected: proof.len() - 1,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected: proof.len() + 1,
        });
    }
    if &fr != old_root {
        return Err(ProofError::RootMismatch {
            computed: hex(&fr),
            expected: hex(old_root),
        });
    }
    if &sr != new_root {
        return Err(ProofError::RootMismatch {
            computed: hex(&sr),
            expected: hex(new_root),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proofs from stored subtree hashes are the proofs from all the leaves, for every shape up to 70 leaves.
    #[test]
    fn proofs_from_nodes_match_proofs_from_leaves() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for size in 1..=leaves.len() {
            let nodes: std::collections::HashMap<NodeId, Hash> =
                all_nodes(&leaves[..size]).into_iter().collect();
            let mut node = |id: NodeId| nodes[&id];
            for index in 0..size {
                assert_eq!(
                    inclusion_proof_from_nodes(index as u64, size as u64, &mut node),
                    inclusion_proof(index, &leaves[..size]),
                    "leaf {index} of {size}"
                );
            }
            for old in 1..=size {
                assert_eq!(
                    consistency_proof_from_nodes(old as u64, size as u64, &mut node),
                    consistency_proof(old, &leaves[..size]),
                    "{old} to {size}"
                );
            }
        }
    }

    fn h(text: &str) -> Hash {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// The eight leaves of RFC 6962's test tree (hex of their data).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Roots of the trees of the first 1..=8 leaves (transparency-dev/merkle, testonly).
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf index, tree size, audit path).
    const INCLUSION: [(usize, usize, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, proof).
    const CONSISTENCY: [(usize, usize, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    fn leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|l| {
                let data: Vec<u8> = (0..l.len() / 2)
                    .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                leaf_hash(&data)
            })
            .collect()
    }

    #[test]
    fn roots_match_the_published_vectors() {
        let leaves = leaves();
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (n, expected) in ROOTS.iter().enumerate() {
            assert_eq!(
                hex(&root(&leaves[..=n])),
                *expected,
                "root of {} leaves",
                n + 1
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_and_verify_and_mutations_fail() {
        let leaves = leaves();
        for (index, size, expected) in INCLUSION {
            let proof = inclusion_proof(index, &leaves[..size]);
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "path of leaf {index} in {size}");
            let root = h(ROOTS[size - 1]);
            let (i, n) = (index as u64, size as u64);
            verify_inclusion(&leaves[index], i, n, &proof, &root).unwrap();
            // Mutations: another leaf, index, size, a flipped bit, a missing or extra hash.
            assert!(verify_inclusion(&leaves[(index + 1) % 8], i, n, &proof, &root).is_err());
            assert!(verify_inclusion(&leaves[index], i + 1, n, &proof, &root).is_err());
            // The size is bound to the root by the signed checkpoint: another tree's root must fail.
            let other_root = h(ROOTS[size % 8]);
            assert!(verify_inclusion(&leaves[index], i, n, &proof, &other_root).is_err());
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k][7] ^= 0x20;
                assert!(verify_inclusion(&leaves[index], i, n, &bad, &root).is_err());
            }
            if !proof.is_empty() {
                assert!(verify_inclusion(&leaves[index], i, n, &proof[1..], &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(&leaves[index], i, n, &longer, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_match_and_verify_and_mutations_fail() {
        let leaves = leaves();
        for (old, new, expected) in CONSISTENCY {
            let proof = consistency_proof(old, &leaves[..new]);
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "consistency {old} -> {new}");
            let (old_root, new_root) = (h(ROOTS[old - 1]), h(ROOTS[new - 1]));
            let (m, n) = (old as u64, new as u64);
            verify_consistency(m, n, &proof, &old_root, &new_root).unwrap();
            assert!(verify_consistency(n, m, &proof, &new_root, &old_root).is_err() || m == n);
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k][0] ^= 1;
                assert!(verify_consistency(m, n, &bad, &old_root, &new_root).is_err());
            }
            let mut wrong_old = old_root;
            wrong_old[31] ^= 1;
            assert!(verify_consistency(m, n, &proof, &wrong_old, &new_root).is_err());
            if !proof.is_empty() {
                assert!(
                    verify_consistency(m, n, &proof[..proof.len() - 1], &old_root, &new_root)
                        .is_err()
                );
            }
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies() {
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for n in 1..=leaves.len() {
            let r = root(&leaves[..n]);
            for m in 0..n {
                let proof = inclusion_proof(m, &leaves[..n]);
                verify_inclusion(&leaves[m], m as u64, n as u64, &proof, &r).unwrap();
            }
            for old in 1..=n {
                let proof = consistency_proof(old, &leaves[..n]);
                verify_consistency(old as u64, n as u64, &proof, &root(&leaves[..old]), &r)
                    .unwrap();
            }
        }
    }
}
