// Upload a file to the exhibit store with tus-js-client, a standard tus 1.0 client, as a third party would.
// Usage: node tus_upload.mjs ENDPOINT TOKEN FILE SHA256 CASE EVIDENCE KIND
// Prints one JSON line: the upload's URL on success; exits 1 with the error otherwise.
import fs from 'node:fs';
import * as tus from 'tus-js-client';

const [endpoint, token, file, sha256, caseId, evidence, kind] = process.argv.slice(2);
const size = fs.statSync(file).size;
const upload = new tus.Upload(fs.createReadStream(file), {
  endpoint,
  uploadSize: size,
  chunkSize: 256 * 1024,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: file.split('/').pop(), sha256, case: caseId, evidence, kind },
  retryDelays: [0, 200, 1000],
  onError(error) {
    console.error(String(error));
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, bytes: size }));
  },
});
upload.start();
