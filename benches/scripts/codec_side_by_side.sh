#!/usr/bin/env bash
# The codec side by side with gltfpack and Draco on the same reconstructed scan mesh, in one run.
# Prints one JSON line per tool and a summary line with the ratios quoted in benches/README.md.
#
# usage: benches/scripts/codec_side_by_side.sh [WORKDIR]
# needs: the peers (../shared/peers/setup_py.sh and setup_js.sh), zstd, a release build of exhibit.
# env: PEERS (default ../shared/peers), PEERS_VENV, PEERS_JS as the peers' README says.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peers="${PEERS:-$root/../shared/peers}"
venv="${PEERS_VENV:-$HOME/.cache/exhibit-peers/venv}"
js="${PEERS_JS:-$HOME/.cache/exhibit-peers/js}"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
exhibit="$root/target/release/exhibit"
[ -x "$exhibit" ] || (cd "$root" && cargo build --release --quiet)

mesh="$work/bench_mesh.obj"
[ -f "$mesh" ] || OMP_NUM_THREADS=2 "$venv/bin/python" "$here/make_bench_mesh.py" "$mesh" >&2
cpu() { /usr/bin/time -f '%U %S' -o "$work/time.txt" "$@" >&2; awk '{print $1 + $2}' "$work/time.txt"; }

# A plain GLB of the same mesh, the input of every tool (gltfpack -noq: float attributes, no compression).
"$js/node_modules/.bin/gltfpack" -i "$mesh" -o "$work/plain.glb" -noq >&2
# gltfpack -cc quantizes positions to 14 bits of the largest extent; give exhibit that same grid step.
step_mm=$(node -e '
const fs = require("fs"); const b = fs.readFileSync(process.argv[1]); const n = b.readUInt32LE(12);
const j = JSON.parse(b.subarray(20, 20 + n)); const a = j.accessors[j.meshes[0].primitives[0].attributes.POSITION];
const extent = Math.max(...a.max.map((m, i) => m - a.min[i])); console.log(extent / 16383 * 1000);' "$work/plain.glb")

ours_cpu=$(cpu "$exhibit" ingest "$work/plain.glb" -o "$work/ours.glb" --precision-mm "$step_mm" --json)
gltfpack_cpu=$(cpu "$js/node_modules/.bin/gltfpack" -i "$work/plain.glb" -o "$work/gltfpack_cc.glb" -cc)
ours_bytes=$(stat -c %s "$work/ours.glb")
ours_zstd=$(zstd -19 -q -c "$work/ours.glb" | wc -c)
peer_json=$(PEERS_JS="$js" VARIANTS="${VARIANTS:-gltfpack_cc,gt_draco}" "$peers/gltfpack_compress.sh" "$work/plain.glb" "$work/peer.glb" || true)
echo "$peer_json"
decode_json=$(PEERS_JS="$js" node "$peers/meshopt_decode_bench.mjs" "$work/ours.glb" --iters 20)
echo "$decode_json"
validate_json=$(PEERS_JS="$js" node "$peers/gltf_validate.mjs" "$work/ours.glb" --decode || true)
PEER="$peer_json" DECODE="$decode_json" VALID="$validate_json" node -e '
const peer = JSON.parse(process.env.PEER), dec = JSON.parse(process.env.DECODE), val = JSON.parse(process.env.VALID);
const v = (n) => peer.variants.find((x) => x.name === n) || {};
const [oursBytes, oursZstd, oursCpu, packCpu, step] = process.argv.slice(1).map(Number);
const cc = v("gltfpack_cc"), draco = v("gt_draco");
console.log(JSON.stringify({
  grid_step_mm: step, ours_bytes: oursBytes, ours_zstd19_bytes: oursZstd, gltfpack_cc_bytes: cc.out_bytes,
  draco_bytes: draco.out_bytes, draco_zstd19_bytes: draco.zstd19_bytes,
  ratio_bytes_vs_gltfpack_cc: +(oursBytes / cc.out_bytes).toFixed(4),
  ratio_zstd_vs_draco_zstd: draco.zstd19_bytes ? +(oursZstd / draco.zstd19_bytes).toFixed(4) : null,
  ours_encode_cpu_s: oursCpu, gltfpack_cc_cpu_s: packCpu, ratio_encode_cpu_vs_gltfpack: +(oursCpu / packCpu).toFixed(3),
  draco_encode_wall_s: draco.wall_ms / 1000, meshopt_wasm_decoded_MBps: dec.decoded_MBps, decoded_bytes: dec.decoded_bytes,
  validator_errors: val.numErrors, validator_decoded_errors: val.decoded && val.decoded.numErrors,
}));' "$ours_bytes" "$ours_zstd" "$ours_cpu" "$gltfpack_cpu" "$step_mm"
echo "work files in $work" >&2
