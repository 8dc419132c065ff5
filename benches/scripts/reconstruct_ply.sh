#!/bin/sh
# exhibit's reconstruction as a peer tool for ../shared/peers/bench_reconstruct.py: points in, PLY mesh out.
# usage: benches/scripts/reconstruct_ply.sh EXHIBIT IN OUT.ply DEPTH
#   --tool ours="benches/scripts/reconstruct_ply.sh target/release/exhibit {in} {out} {depth}"
# The GLB (and its manifest) stays beside OUT as OUT.glb; the PLY is its decoded scene (glb_scene_to_ply.mjs:
# the model, without the levels of detail stored beside it).
set -eu
exhibit=$1 in=$2 out=$3 depth=$4
"$exhibit" ingest "$in" -o "$out.glb" --depth "$depth" --json
NODE_PATH=${NODE_PATH:-$HOME/.cache/exhibit-peers/js/node_modules} node "$(dirname "$0")/glb_scene_to_ply.mjs" "$out.glb" "$out" >/dev/null
