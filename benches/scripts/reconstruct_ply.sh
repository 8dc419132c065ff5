#!/bin/sh
# exhibit's reconstruction as a peer tool for ../shared/peers/bench_reconstruct.py: points in, PLY mesh out.
# usage: benches/scripts/reconstruct_ply.sh EXHIBIT IN OUT.ply DEPTH
#   --tool ours="benches/scripts/reconstruct_ply.sh target/release/exhibit {in} {out} {depth}"
# The GLB (and its manifest) stays beside OUT as OUT.glb; the PLY is its decoded copy (glb_to_ply.mjs).
set -eu
exhibit=$1 in=$2 out=$3 depth=$4
peers=${PEERS_DIR:-$(dirname "$0")/../../../shared/peers}
"$exhibit" ingest "$in" -o "$out.glb" --depth "$depth" --json
NODE_PATH=${NODE_PATH:-$HOME/.cache/exhibit-peers/js/node_modules} node "$peers/glb_to_ply.mjs" "$out.glb" "$out" >/dev/null
