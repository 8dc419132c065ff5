// Write the POINTS primitives of a GLB (exhibit's point-cloud models) as a binary PLY of x y z, in world
// space, for the peers' reconstruction scripts. usage: NODE_PATH=PEERS_JS/node_modules node glb_points_to_ply.mjs IN.glb OUT.ply
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.env.NODE_PATH + '/');
const { NodeIO } = require('@gltf-transform/core');
const { ALL_EXTENSIONS } = require('@gltf-transform/extensions');
const { MeshoptDecoder } = require('meshoptimizer');
await MeshoptDecoder.ready;
const [input, output] = process.argv.slice(2);
const io = new NodeIO().registerExtensions(ALL_EXTENSIONS).registerDependencies({ 'meshopt.decoder': MeshoptDecoder });
const doc = await io.read(input);
const points = [];
for (const node of doc.getRoot().listNodes()) {
  const mesh = node.getMesh();
  if (!mesh) continue;
  const m = node.getWorldMatrix();
  for (const prim of mesh.listPrimitives()) {
    if (prim.getMode() !== 0) continue;
    const pos = prim.getAttribute('POSITION');
    const v = [0, 0, 0];
    for (let i = 0; i < pos.getCount(); i++) {
      pos.getElement(i, v);
      points.push(m[0] * v[0] + m[4] * v[1] + m[8] * v[2] + m[12],
                  m[1] * v[0] + m[5] * v[1] + m[9] * v[2] + m[13],
                  m[2] * v[0] + m[6] * v[1] + m[10] * v[2] + m[14]);
    }
  }
}
const n = points.length / 3;
const header = `ply\nformat binary_little_endian 1.0\nelement vertex ${n}\nproperty float x\nproperty float y\nproperty float z\nend_header\n`;
fs.writeFileSync(output, Buffer.concat([Buffer.from(header), Buffer.from(new Float32Array(points).buffer)]));
console.log(JSON.stringify({ ok: true, points: n }));
