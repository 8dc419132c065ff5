// Decode a .glb with glTF-Transform and write the triangle meshes of its default scene, in world space, as one
// binary little-endian PLY (float xyz + int faces), for scoring with ../shared/peers/mesh_distance.py.
// Unlike ../shared/peers/glb_to_ply.mjs (every node in the file), only the scene is written: exhibit's coarser
// levels of detail are nodes outside the scene (MSFT_lod) and must not be scored as part of the model.
// usage: NODE_PATH=PEERS_JS/node_modules node benches/scripts/glb_scene_to_ply.mjs IN.glb OUT.ply
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const imp = async (name) => import(require.resolve(name, { paths: (process.env.NODE_PATH ?? '').split(':') }));
const [inp, out] = process.argv.slice(2);
if (!inp || !out) { console.log(JSON.stringify({ ok: false, error: 'usage: glb_scene_to_ply.mjs IN.glb OUT.ply' })); process.exit(2); }
const { NodeIO } = await imp('@gltf-transform/core');
const { ALL_EXTENSIONS } = await imp('@gltf-transform/extensions');
const { MeshoptDecoder } = await imp('meshoptimizer/decoder');
await MeshoptDecoder.ready;
const io = new NodeIO().registerExtensions(ALL_EXTENSIONS).registerDependencies({ 'meshopt.decoder': MeshoptDecoder });
const doc = await io.read(inp);
const root = doc.getRoot();
const scene = root.getDefaultScene() ?? root.listScenes()[0];
const P = [], F = []; let base = 0;
const el = [];
scene.traverse((node) => {
  const mesh = node.getMesh(); if (!mesh) return;
  const m = node.getWorldMatrix();
  for (const prim of mesh.listPrimitives()) {
    if (prim.getMode() !== 4) continue; // TRIANGLES only
    const pos = prim.getAttribute('POSITION'), idx = prim.getIndices();
    const n = pos.getCount();
    for (let i = 0; i < n; i++) {
      pos.getElement(i, el);
      P.push(m[0] * el[0] + m[4] * el[1] + m[8] * el[2] + m[12],
        m[1] * el[0] + m[5] * el[1] + m[9] * el[2] + m[13],
        m[2] * el[0] + m[6] * el[1] + m[10] * el[2] + m[14]);
    }
    if (idx) { const a = idx.getArray(); for (let i = 0; i < a.length; i++) F.push(a[i] + base); }
    else for (let i = 0; i < n; i++) F.push(base + i);
    base += n;
  }
});
const nv = P.length / 3, nf = F.length / 3;
const hdr = `ply\nformat binary_little_endian 1.0\nelement vertex ${nv}\nproperty float x\nproperty float y\nproperty float z\n` +
  `element face ${nf}\nproperty list uchar int vertex_indices\nend_header\n`;
const body = Buffer.alloc(nv * 12 + nf * 13);
let o = 0;
for (let i = 0; i < 3 * nv; i++) { body.writeFloatLE(P[i], o); o += 4; }
for (let f = 0; f < nf; f++) { body.writeUInt8(3, o); for (let k = 0; k < 3; k++) body.writeInt32LE(F[3 * f + k], o + 1 + 4 * k); o += 13; }
fs.writeFileSync(out, Buffer.concat([Buffer.from(hdr, 'latin1'), body]));
console.log(JSON.stringify({ ok: true, in: inp, out, vertices: nv, triangles: nf }));
