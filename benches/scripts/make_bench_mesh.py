#!/usr/bin/env python3
"""Make the codec benchmark's input: a reconstructed scan mesh of about 1M triangles.

The Stanford bunny (assets/stanford-bunny/bun_zipper.ply) is sampled into a dense oriented cloud and
reconstructed with Open3D's screened Poisson at depth 10, the way a scan pipeline would.
Writes OUT.obj (positions + normals), which both gltfpack and exhibit read.

usage: PEERS_VENV/bin/python benches/scripts/make_bench_mesh.py OUT.obj [--depth 10] [--points 600000]
"""
import argparse
import json
import os
import sys

import numpy as np
import open3d as o3d

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--depth", type=int, default=10)
ap.add_argument("--points", type=int, default=600000)
args = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "..", "..", "assets", "stanford-bunny", "bun_zipper.ply")
mesh = o3d.io.read_triangle_mesh(src)
mesh.compute_vertex_normals()
o3d.utility.random.seed(1)
cloud = mesh.sample_points_uniformly(number_of_points=args.points, use_triangle_normal=True)
recon, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(cloud, depth=args.depth)
d = np.asarray(densities)
recon.remove_vertices_by_mask(d < np.quantile(d, 0.01))
recon.compute_vertex_normals()
o3d.io.write_triangle_mesh(args.out, recon, write_ascii=True, write_vertex_colors=False, write_triangle_uvs=False)
print(json.dumps({"out": args.out, "vertices": len(recon.vertices), "triangles": len(recon.triangles)}))
