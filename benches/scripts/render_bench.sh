#!/usr/bin/env bash
# Frame time at 1920x1080: exhibit's renderer (on this machine's adapter: Mesa's lavapipe without a GPU) against
# three.js + GLTFLoader + MeshoptDecoder in headless Chromium (SwiftShader WebGL2), the same GLB, in the same run,
# interleaved model by model. Prints one JSON line per model and anti-aliasing mode.
#
# usage: benches/scripts/render_bench.sh MODEL.glb...
# env:   EXHIBIT (default target/release/exhibit), PEERS (default ../shared/peers), REPEAT (frames, default 5),
#        SIZE (default 1920x1080); the peers' README says how to install three.js, playwright-core and chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXHIBIT="${EXHIBIT:-target/release/exhibit}"
PEERS="${PEERS:-../shared/peers}"
REPEAT="${REPEAT:-5}"
SIZE="${SIZE:-1920x1080}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
out="$(mktemp -d)"
for model in "$@"; do
  # three.js: the second render is its steady frame (render + a 1-pixel readPixels that waits for the GPU).
  three=$(node "$PEERS/three_load.mjs" "$model" "$out/three.png" --size "$SIZE" --repeat 1 --timeout 900 2>/dev/null | tail -n 1)
  for aa in fxaa msaa; do
    ours=$("$EXHIBIT" render "$model" -o "$out/ours-$aa.png" --size "$SIZE" --repeat "$REPEAT" --aa "$aa" --json)
    python3 - "$model" "$aa" "$three" "$ours" <<'PY'
import json, sys
model, aa, three, ours = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
frame = ours["frame_ms"]
print(json.dumps({
    "model": model, "triangles": ours["triangles"], "size": f'{ours["width"]}x{ours["height"]}',
    "adapter": ours["adapter"], "ours_aa": aa,
    "ours_first_ms": round(frame["first_ms"], 1), "ours_frame_ms": round(frame["median_ms"], 1),
    "ours_triangles_per_s": round(ours["triangles"] / (frame["median_ms"] / 1e3)),
    "three_gl": three.get("gl_renderer"), "three_first_ms": three.get("first_render_ms"),
    "three_frame_ms": three.get("second_render_ms"),
    "ratio": round(frame["median_ms"] / three["second_render_ms"], 3) if three.get("second_render_ms") else None,
}))
PY
  done
done
