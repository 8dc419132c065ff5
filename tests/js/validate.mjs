// Validate GLB files with the Khronos glTF validator, as the Rust tests require of every GLB we write.
// usage: node tests/js/validate.mjs FILE.glb... ; prints one JSON line per file; exit 1 if any has errors.
// The validator cannot look inside EXT_meshopt_compression views, so each file is also decoded with
// glTF-Transform + meshoptimizer, written back without the compression extension (KHR_mesh_quantization kept)
// and validated again: that second report checks the accessor data itself (index ranges, unit normals...).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const validator = require('gltf-validator');
const { NodeIO } = await import('@gltf-transform/core');
const { ALL_EXTENSIONS } = await import('@gltf-transform/extensions');
const { MeshoptDecoder } = await import('meshoptimizer/decoder');
await MeshoptDecoder.ready;

const summarize = (report) => ({
  numErrors: report.issues.numErrors,
  numWarnings: report.issues.numWarnings,
  messages: report.issues.messages.filter((m) => m.severity <= 1).slice(0, 20)
    .map((m) => ({ severity: m.severity === 0 ? 'error' : 'warning', code: m.code, message: m.message, pointer: m.pointer ?? m.offset })),
});

let failed = false;
for (const file of process.argv.slice(2)) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const report = await validator.validateBytes(bytes, { uri: path.basename(file), maxIssues: 1000 });
  const io = new NodeIO().registerExtensions(ALL_EXTENSIONS).registerDependencies({ 'meshopt.decoder': MeshoptDecoder });
  let decoded;
  try {
    const doc = await io.readBinary(bytes);
    for (const ext of doc.getRoot().listExtensionsUsed()) {
      if (ext.extensionName === 'EXT_meshopt_compression') ext.dispose();
    }
    const plain = await io.writeBinary(doc);
    decoded = summarize(await validator.validateBytes(plain, { uri: 'decoded.glb', maxIssues: 1000 }));
  } catch (e) {
    decoded = { numErrors: 1, numWarnings: 0, messages: [{ severity: 'error', code: 'DECODE_FAILED', message: String(e) }] };
  }
  const result = { file, validator: report.validatorVersion, ...summarize(report), decoded };
  failed ||= result.numErrors > 0 || decoded.numErrors > 0;
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);
