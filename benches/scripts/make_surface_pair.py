#!/usr/bin/env python3
"""A registration pair whose source points are NOT the model's vertices: like ../shared/peers/make_icp_pair.py
(random motion about the centroid, Gaussian noise, one side cut away), but the source points are drawn uniformly
by area over the model's triangles, as a scanner samples a surface, so no source point coincides with a model
vertex and nearest-vertex correspondences carry the sampling offset.

usage: make_surface_pair.py MODEL.ply OUT_SOURCE.ply OUT_GT.json [--points N] [--rot-deg 5] [--trans 0.02]
       [--noise 0.0005] [--crop 0.2] [--seed 1]     (--trans and --noise are fractions of the bbox diagonal)
Writes OUT_GT.json as {"transformation": 4x4} mapping the source back onto the model, like make_icp_pair.py.
"""
import argparse
import json

import numpy as np
import open3d as o3d


def rotation(axis, deg):
    axis = axis / np.linalg.norm(axis)
    a = np.radians(deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out_source")
    ap.add_argument("out_gt")
    ap.add_argument("--points", type=int, default=0, help="points drawn (0: as many as the model has vertices)")
    ap.add_argument("--rot-deg", type=float, default=5.0)
    ap.add_argument("--trans", type=float, default=0.02)
    ap.add_argument("--noise", type=float, default=0.0005)
    ap.add_argument("--crop", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    mesh = o3d.io.read_triangle_mesh(args.model)
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.triangles)
    diag = float(np.linalg.norm(v.max(0) - v.min(0)))
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    n = args.points or len(v)
    tri = rng.choice(len(f), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    pts = (1 - s)[:, None] * a[tri] + (s * (1 - r2))[:, None] * b[tri] + (s * r2)[:, None] * c[tri]
    if args.crop > 0:
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        proj = pts @ d
        pts = pts[proj <= np.quantile(proj, 1 - args.crop)]
    rot = rotation(rng.normal(size=3), args.rot_deg)
    tdir = rng.normal(size=3)
    t = tdir / np.linalg.norm(tdir) * args.trans * diag
    centre = pts.mean(0)
    moved = (pts - centre) @ rot.T + centre + t + rng.normal(0, args.noise * diag, size=pts.shape)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre + t - rot @ centre
    o3d.io.write_point_cloud(args.out_source, o3d.geometry.PointCloud(o3d.utility.Vector3dVector(moved)))
    with open(args.out_gt, "w") as fh:
        json.dump({"transformation": np.linalg.inv(m).tolist(), "rot_deg": args.rot_deg,
                   "trans": float(np.linalg.norm(t)), "noise": args.noise * diag}, fh)
        fh.write("\n")


if __name__ == "__main__":
    main()
