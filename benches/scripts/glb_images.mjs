// Write every image of a GLB to OUT_PREFIX-N.EXT and print each name with its size (bytes).
// usage: node glb_images.mjs FILE.glb OUT_PREFIX
import { readFileSync, writeFileSync } from 'node:fs';
const [file, prefix] = process.argv.slice(2);
const b = readFileSync(file);
const jsonLen = b.readUInt32LE(12);
const json = JSON.parse(b.subarray(20, 20 + jsonLen).toString());
const binStart = 20 + jsonLen + 8;
(json.images || []).forEach((im, i) => {
  const v = json.bufferViews[im.bufferView];
  const bytes = b.subarray(binStart + (v.byteOffset || 0), binStart + (v.byteOffset || 0) + v.byteLength);
  const ext = im.mimeType.split('/')[1];
  writeFileSync(`${prefix}-${i}.${ext}`, bytes);
  console.log(`${prefix}-${i}.${ext} ${bytes.length}`);
});
