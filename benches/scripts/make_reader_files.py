#!/usr/bin/env python3
"""Make the reader benchmark's files in OUTDIR: cloud.ply (binary, f64 xyz + normals, u8 rgb), cloud.pcd
(binary) with the same 3.8M points, and big.laz and huge.laz (autzen_trim tiled 20 and 60 times).

usage: PEERS_VENV/bin/python benches/scripts/make_reader_files.py MESH.obj LAZ OUTDIR
  MESH.obj: the codec benchmark's mesh (make_bench_mesh.py); LAZ: ../shared/data/las/autzen_trim.laz
"""
import os
import sys

import laspy
import numpy as np
import open3d as o3d

mesh_path, laz_path, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
m = o3d.io.read_triangle_mesh(mesh_path)
m.compute_vertex_normals()
pts, nrm = np.asarray(m.vertices), np.asarray(m.vertex_normals)
rng = np.random.default_rng(1)
big = np.concatenate([pts + rng.normal(0, 1e-4, pts.shape) for _ in range(4)])
q = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(big))
q.normals = o3d.utility.Vector3dVector(np.concatenate([nrm] * 4))
q.colors = o3d.utility.Vector3dVector(rng.random(big.shape))
o3d.io.write_point_cloud(os.path.join(out, "cloud.ply"), q, write_ascii=False)
o3d.io.write_point_cloud(os.path.join(out, "cloud.pcd"), q, write_ascii=False, compressed=False)
las = laspy.read(laz_path)
header = laspy.LasHeader(point_format=las.header.point_format, version=las.header.version)
header.scales, header.offsets = las.header.scales, las.header.offsets
for name, copies in [("big.laz", 20), ("huge.laz", 60)]:
    tiled = laspy.LasData(header)
    for field in ["x", "y", "z", "intensity", "red", "green", "blue"]:
        setattr(tiled, field, np.tile(getattr(las, field), copies))
    tiled.write(os.path.join(out, name))
print(len(big), len(las.points) * 20, len(las.points) * 60)
