#!/usr/bin/env bash
# Rigid alignment against Open3D's point-to-plane ICP on the same registration pairs, one JSON line per pair:
# ../shared/peers/make_icp_pair.py moves a noisy, cropped copy of MODEL's vertices by a known motion (5°, 2 % of
# the diagonal, noise 0.05 % of the diagonal, 80 % overlap); Open3D registers it onto MODEL (o3d_icp.py, from
# identity); exhibit registers the same points (ingested as a point cloud) onto MODEL (ingested as a mesh at
# 0.005 mm) with `exhibit compare MODEL.glb SOURCE.glb --align icp`. Errors are against the known motion.
# PAIR=surface draws the source points uniformly over MODEL's triangles instead (make_surface_pair.py, same
# motion, noise and cut), as a scanner samples a surface: no source point is a model vertex.
# usage: benches/scripts/icp_side_by_side.sh MODEL.ply SEEDS...   env: PAIR, PEERS, PEERS_VENV, EXHIBIT
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL="$1"; shift
EXHIBIT="${EXHIBIT:-target/release/exhibit}"
PEERS="${PEERS:-../shared/peers}"
PY="${PEERS_VENV:-$HOME/.cache/exhibit-peers/venv}/bin/python"
export OMP_WAIT_POLICY=PASSIVE XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
work="$(mktemp -d)"
"$EXHIBIT" ingest "$MODEL" -o "$work/model.glb" --lod 1 --precision-mm 0.005 --json > /dev/null
for seed in "$@"; do
  if [ "${PAIR:-vertices}" = surface ]; then
    "$PY" benches/scripts/make_surface_pair.py "$MODEL" "$work/src.ply" "$work/gt.json" --rot-deg 5 --trans 0.02 \
      --noise 0.0005 --crop 0.2 --seed "$seed"
  else
    "$PY" "$PEERS/make_icp_pair.py" "$MODEL" "$work/src.ply" "$work/gt.json" --rot-deg 5 --trans 0.02 --rel \
      --noise 0.0005 --crop 0.2 --seed "$seed" > /dev/null
  fi
  "$EXHIBIT" ingest "$work/src.ply" --points -o "$work/src.glb" --precision-mm 0.005 --json > /dev/null
  o3d=$("$PY" "$PEERS/o3d_icp.py" "$work/src.ply" "$MODEL" --gt "$work/gt.json" 2>/dev/null | tail -n 1)
  start=$(date +%s.%N)
  ours=$("$EXHIBIT" compare "$work/model.glb" "$work/src.glb" --align icp --json)
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  "$PY" - "$seed" "$o3d" "$ours" "$work/gt.json" "$wall" <<'PY'
import json, os, sys
import numpy as np
seed, o3d, ours, gt_path, wall = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], float(sys.argv[5])
gt = np.array(json.load(open(gt_path))["transformation"])
t = np.array(ours["transform"]).reshape(4, 4).T  # column-major
angle = np.degrees(np.arccos(np.clip((np.trace(t[:3, :3].T @ gt[:3, :3]) - 1) / 2, -1, 1)))
print(json.dumps({
    "seed": int(seed), "pair": os.environ.get("PAIR", "vertices"),
    "o3d_rot_err_deg": o3d["error_vs_gt"]["rot_deg"], "o3d_trans_err_mm": o3d["error_vs_gt"]["trans"] * 1e3,
    "o3d_total_s": o3d["total_s"], "o3d_cpu_s": o3d["cpu_s"],
    "ours_rot_err_deg": float(angle), "ours_trans_err_mm": float(np.linalg.norm(t[:3, 3] - gt[:3, 3]) * 1e3),
    "ours_compare_s": round(ours["compare_seconds"], 3), "ours_process_s": round(wall, 3),
    "ours_iterations": ours["alignment"]["iterations"], "ours_start": ours["alignment"]["start"],
}))
PY
done
