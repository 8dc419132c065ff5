#!/usr/bin/env bash
# Textured scan, one run: exhibit's phone level texture against gltf-transform's (resize to the same size, then
# its JPEG re-encoding and its WebP), in bytes and SSIM measured the same way for all (the image magnified back
# to the source's 4096² and compared texel by texel, ingest/examples/texture_quality.rs); and ingest CPU time
# against gltfpack on the same OBJ. Prints one JSON line per tool.
#
# usage: benches/scripts/texture_levels.sh [WORKDIR]
# needs: the peers' npm packages (../shared/peers/setup_js.sh --no-apt), a release build.
# env: PEERS_JS (default ~/.cache/exhibit-peers/js).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
js="${PEERS_JS:-$HOME/.cache/exhibit-peers/js}"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
(cd "$root" && cargo build --release --quiet && cargo build --release --quiet -p ingest --example texture_quality)
exhibit="$root/target/release/exhibit"
quality="$root/target/release/examples/texture_quality"
box="$root/tests/data/textured/ycb_003_cracker_box"
source="$box/texture_map.jpg"
cpu() { /usr/bin/time -f '%U %S %M' -o "$work/time.txt" "$@" >/dev/null 2>&1; awk '{printf "%.3f %d", $1 + $2, $3}' "$work/time.txt"; }
measure() { "$quality" "$source" "$1"; }

read -r seconds rss <<<"$(cpu "$exhibit" ingest "$box/textured.obj" -o "$work/exhibit.glb")"
node "$here/glb_images.mjs" "$work/exhibit.glb" "$work/exhibit" >/dev/null
# Level 1's image: JPEG or WebP, whichever ingest measured smaller at the same SSIM.
level1=$(ls "$work"/exhibit-1.*)
echo "{\"tool\":\"exhibit ingest\",\"cpu_s\":$seconds,\"peak_kb\":$rss,\"glb_bytes\":$(stat -c %s "$work/exhibit.glb"),\"level1_image\":\"${level1##*.}\",\"level1_image_bytes\":$(stat -c %s "$level1"),\"level1\":$(measure "$level1")}"

read -r seconds rss <<<"$(cpu node "$js/node_modules/.bin/gltfpack" -i "$box/textured.obj" -o "$work/gltfpack.glb")"
echo "{\"tool\":\"gltfpack (npm build: no -tc/-tw, textures copied)\",\"cpu_s\":$seconds,\"peak_kb\":$rss,\"glb_bytes\":$(stat -c %s "$work/gltfpack.glb")}"

node "$js/node_modules/.bin/gltfpack" -i "$box/textured.obj" -o "$work/plain.glb" -noq >/dev/null
side=$(measure "$level1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).width))')
read -r seconds rss <<<"$(cpu node "$js/node_modules/.bin/gltf-transform" resize "$work/plain.glb" "$work/half.glb" --width "$side" --height "$side")"
node "$here/glb_images.mjs" "$work/half.glb" "$work/half" >/dev/null
echo "{\"tool\":\"gltf-transform resize (JPEG)\",\"cpu_s\":$seconds,\"image_bytes\":$(stat -c %s "$work/half-0.jpeg"),\"level1\":$(measure "$work/half-0.jpeg")}"
for q in 60 70 80 90; do
  read -r seconds rss <<<"$(cpu node "$js/node_modules/.bin/gltf-transform" webp "$work/half.glb" "$work/webp$q.glb" --quality $q)"
  node "$here/glb_images.mjs" "$work/webp$q.glb" "$work/webp$q" >/dev/null
  echo "{\"tool\":\"gltf-transform resize + webp --quality $q\",\"cpu_s\":$seconds,\"image_bytes\":$(stat -c %s "$work/webp$q-0.webp"),\"level1\":$(measure "$work/webp$q-0.webp")}"
done
