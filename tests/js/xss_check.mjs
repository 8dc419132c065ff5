// Open pages in Debian's chromium (headless, driven by playwright-core) and report, for each, whether any markup
// planted in the store's records ran or became elements: one JSON line per page. Used by tests/it/store_security.rs.
//
// usage: node xss_check.mjs MARK [--token T] [--session T] URL...
//   MARK       text every planted value starts with: the report counts how often the page shows it as text
//   --token T  send Authorization: Bearer T (the custody report)
//   --session T  the case page: its script reads the token from sessionStorage
// Planted values carry the attribute data-xss on every element they would make, and set window.__xss
// if a script of theirs ran.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const mark = args.shift();
let token = null;
let session = null;
const urls = [];
while (args.length) {
  const a = args.shift();
  if (a === '--token') token = args.shift();
  else if (a === '--session') session = args.shift();
  else urls.push(a);
}
const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
const profile = mkdtempSync(join(tmpdir(), 'exhibit-xss-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  extraHTTPHeaders: token ? { Authorization: `Bearer ${token}` } : {},
});
try {
  for (const url of urls) {
    const page = await context.newPage();
    const result = { url, dialogs: 0, violations: [], errors: [] };
    page.on('dialog', async (d) => { result.dialogs += 1; await d.dismiss(); });
    page.on('pageerror', (e) => result.errors.push(e.message));
    await page.addInitScript((t) => {
      if (t) sessionStorage.setItem('exhibit-token', t);
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    }, session);
    const response = await page.goto(url, { waitUntil: 'load' });
    result.status = response.status();
    // The case page fills itself from the API after load.
    await page.waitForTimeout(session ? 2500 : 800);
    Object.assign(result, await page.evaluate((m) => ({
      planted_elements: document.querySelectorAll('[data-xss]').length,
      ran: window.__xss === 1,
      shown: document.body.innerText.split(m).length - 1,
      violations: window.__violations,
      title: document.title,
    }), mark));
    console.log(JSON.stringify(result));
    await page.close();
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
