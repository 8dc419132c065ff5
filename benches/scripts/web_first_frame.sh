#!/usr/bin/env bash
# Time to first frame in headless Chromium: exhibit's web viewer (a share page of a real `exhibit serve`, the
# model uploaded to it) against three.js + GLTFLoader + MeshoptDecoder loading the same GLB
# (../shared/peers/three_load.mjs), interleaved model by model, one JSON line per model and tool.
# Both draw through SwiftShader WebGL2 at about 960×558 (three: 960x558).
# exhibit: first_frame_ms = navigation start to the coarsest level drawn (page, wasm download and compile,
# model download, decode, upload, first frame); full_detail_ms = to level 0 drawn.
# three.js: load_decode_ms (fetch + GLTFLoader parse with meshopt decode, in the page) + first_render_ms;
# it does not count loading three.js itself.
# THROTTLE_KBPS=N: exhibit only, its page throttled to N KB/s with 60 ms latency (three_load.mjs serves from
# its own process and cannot be throttled the same way).
# usage: benches/scripts/web_first_frame.sh MODEL.glb...   env: EXHIBIT, PEERS, PEERS_JS, THROTTLE_KBPS
set -euo pipefail
cd "$(dirname "$0")/../.."
EXHIBIT="${EXHIBIT:-target/release/exhibit}"
PEERS="${PEERS:-../shared/peers}"
export PEERS_JS="${PEERS_JS:-$HOME/.cache/exhibit-peers/js}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
[ -f web/dist/exhibit_web_bg.wasm ] || scripts/build-web >/dev/null
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
"$EXHIBIT" serve --data "$work/data" --bind "127.0.0.1:$port" --web-dir web/dist --no-previews \
  --max-upload-mb 4096 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
token=$(cat "$work/data/admin.token")
api() { curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
api -d '{"number":"bench","court":"bench","title":"first frame"}' "http://127.0.0.1:$port/api/cases" >/dev/null
api -d '{"label":"model","kind":"other","submitted_by":"bench"}' "http://127.0.0.1:$port/api/cases/1/evidence" >/dev/null
for model in "$@"; do
  "$EXHIBIT" upload "$model" --store "http://127.0.0.1:$port" --case 1 --evidence 1 --token "$token" --json >/dev/null
  sha=$(sha256sum "$model" | cut -d' ' -f1)
  url=$("$EXHIBIT" share "$sha" --store "http://127.0.0.1:$port" --token "$token" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
  mkdir -p "$work/shot"
  if [ -n "${THROTTLE_KBPS:-}" ]; then
    node tests/js/web_viewer.mjs "$url" "$work/shot" --throttle "$THROTTLE_KBPS" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(json.dumps({k: r.get(k) for k in ["throttle_kbps", "firstFrameMs", "firstLevel", "previewBytes", "fullDetailMs", "fileBytes", "state", "failure"]}))'
    continue
  fi
  ours=$(node tests/js/web_viewer.mjs "$url" "$work/shot")
  three=$(node "$PEERS/three_load.mjs" "$model" "$work/three.png" --size 960x558 --repeat 1 | tail -n 1)
  python3 - "$model" "$ours" "$three" <<'PY'
import json, sys
model, ours, three = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({"model": model, "tool": "exhibit", "first_frame_ms": int(ours.get("firstFrameMs", -1)),
                  "full_detail_ms": int(ours.get("fullDetailMs", -1)), "adapter": ours.get("adapter"),
                  "status": ours.get("viewer_status"), "failure": ours.get("failure")}))
first = three.get("load_decode_ms", 0) + three.get("first_render_ms", 0)
print(json.dumps({"model": model, "tool": "three.js", "first_frame_ms": round(first),
                  "load_decode_ms": three.get("load_decode_ms"), "first_render_ms": three.get("first_render_ms"),
                  "triangles": three.get("triangles"), "renderer": three.get("gl_renderer") or three.get("renderer")}))
PY
done
