// Open pages in Debian's chromium (headless, driven by playwright-core) and report, for each, whether any markup
// planted in the store's records ran or became elements: one JSON line per page. Used by tests/it/store_security.rs.
//
// usage: node xss_check.mjs MARK [--token T] [--sign-in NAME PASSWORD] URL...
//   MARK       text every planted value starts with: the report counts how often the page shows it as text
//   --token T  send Authorization: Bearer T (the custody report)
//   --sign-in NAME PASSWORD  the case page: sign in first (POST /api/session; the cookie stays in the browser)
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
let signIn = null;
const urls = [];
while (args.length) {
  const a = args.shift();
  if (a === '--token') token = args.shift();
  else if (a === '--sign-in') signIn = { name: args.shift(), password: args.shift() };
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
  if (signIn) {
    const answer = await context.request.post(`${new URL(urls[0]).origin}/api/session`, { data: signIn });
    if (!answer.ok()) throw new Error(`sign-in: ${answer.status()} ${await answer.text()}`);
  }
  for (const url of urls) {
    const page = await context.newPage();
    const result = { url, dialogs: 0, violations: [], errors: [] };
    page.on('dialog', async (d) => { result.dialogs += 1; await d.dismiss(); });
    page.on('pageerror', (e) => result.errors.push(e.message));
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const response = await page.goto(url, { waitUntil: 'load' });
    result.status = response.status();
    // The case page fills itself from the API after load.
    await page.waitForTimeout(signIn ? 2500 : 800);
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
