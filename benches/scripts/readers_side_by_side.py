#!/usr/bin/env python3
"""Readers side by side in one run, on the same hot files: exhibit against Open3D (PLY, PCD) and
laspy + lazrs (LAZ, one thread and parallel). Prints one JSON line per tool and file, then one with the
ratios, and a last line with exhibit's peak memory against its decoded arrays.

usage: PEERS_VENV/bin/python benches/scripts/readers_side_by_side.py EXHIBIT DIR [RUNS]
  EXHIBIT: target/release/exhibit; DIR: made by make_reader_files.py (cloud.ply, cloud.pcd, big.laz,
  huge.laz).

exhibit is timed as a whole process (`exhibit info FILE --json`: start, read, hash, decode, convert to
metres, bounds, JSON) with /usr/bin/time; the peers inside Python around the read call only (their
interpreter start and imports are not counted). Best wall time of RUNS, with that run's CPU seconds.
"""
import json
import os
import resource
import subprocess
import sys
import time

exhibit, folder = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3

PEER = r"""
import json, resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
if kind == "open3d":
    import open3d as o3d
    read = lambda: len(o3d.io.read_point_cloud(path).points)
else:
    import laspy
    backend = laspy.LazBackend.LazrsParallel if kind == "lazrs-parallel" else laspy.LazBackend.Lazrs
    read = lambda: len(laspy.read(path, laz_backend=backend).points)
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
c0, t0 = cpu(), time.perf_counter()
n = read()
print(json.dumps({"points": n, "wall_s": time.perf_counter() - t0, "cpu_s": cpu() - c0}))
"""


def best(samples):
    return min(samples, key=lambda s: s["wall_s"])


def run_exhibit(path):
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%e %U %S %M", exhibit, "info", path, "--json"],
            capture_output=True, text=True, check=True)
        wall, user, system, rss_kb = out.stderr.strip().splitlines()[-1].split()
        info = json.loads(out.stdout)
        samples.append({"points": info["points"], "wall_s": float(wall),
                        "cpu_s": float(user) + float(system), "peak_rss_mb": int(rss_kb) / 1024,
                        "attributes": info["attributes"]})
    return best(samples)


def run_peer(kind, path):
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PEER, kind, path],
                             capture_output=True, text=True, check=True)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return best(samples)


def decoded_mb(result):
    # What the stored arrays hold: f32 xyz, f32 normals, sRGBA bytes, f32 intensity.
    size = {"POSITION": 12, "NORMAL": 12, "COLOR_0": 4, "_INTENSITY": 4}
    return result["points"] * sum(size.get(a, 0) for a in result["attributes"]) / 2**20


for name, peers in [("cloud.ply", ["open3d"]), ("cloud.pcd", ["open3d"]),
                    ("big.laz", ["lazrs", "lazrs-parallel"]),
                    ("huge.laz", ["lazrs-parallel"])]:
    path = os.path.join(folder, name)
    with open(path, "rb") as f:  # hot file: in the page cache for every tool
        while f.read(1 << 24):
            pass
    ours = run_exhibit(path)
    print(json.dumps({"tool": "exhibit", "file": name, **ours}))
    for peer in peers:
        theirs = run_peer(peer, path)
        print(json.dumps({"tool": peer, "file": name, **theirs}))
        print(json.dumps({"file": name, "against": peer,
                          "speedup_wall": round(theirs["wall_s"] / ours["wall_s"], 2),
                          "speedup_cpu": round(theirs["cpu_s"] / ours["cpu_s"], 2)}))
    print(json.dumps({"file": name, "peak_rss_mb": round(ours["peak_rss_mb"], 1),
                      "decoded_arrays_mb": round(decoded_mb(ours), 1),
                      "ratio": round(ours["peak_rss_mb"] / decoded_mb(ours), 2)}))
