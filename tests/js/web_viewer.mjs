// Open a share page in Debian's chromium (headless, driven by playwright-core) and report what the web viewer
// did, as one JSON line. Used by tests/it/web.rs and benches/scripts/web_first_frame.sh.
//
// usage: node web_viewer.mjs URL OUT_DIR [--phone] [--webgpu] [--touch-orbit] [--expect-closed]
//   --phone          a 390x844 touch viewport (isMobile, hasTouch)
//   --webgpu         SwiftShader WebGPU flags (otherwise WebGL2 through ANGLE/SwiftShader)
//   --touch-orbit    after the first frame, drag one finger across the canvas and screenshot again
//   --expect-closed  the link is expired or revoked: report the HTTP status and the page's words
//   --expect-unavailable  the live viewer cannot load: report what the page says and shows instead
//   --throttle KBPS  download at most KBPS kilobytes per second, with 60 ms latency (a 4G-class link)
//   --device-memory GB  what navigator.deviceMemory says (the page gives a model an eighth of it on the GPU)
//   --case-page NAME PASSWORD  URL is a case page: sign in with the form, report what it lists, open the first version
//   --compare        a link to two models: wait for the second, report the saved heat map image, and screenshot
//                    the side-by-side, swipe and overlay layouts (compare-side.png, compare-swipe.png, ...)
// Writes OUT_DIR/canvas.png (and canvas-after.png with --touch-orbit).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, out, ...flags] = process.argv.slice(2);
const has = (flag) => flags.includes(flag);
const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
const args = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
if (has('--webgpu')) {
  args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader');
}
const profile = mkdtempSync(join(tmpdir(), 'exhibit-chromium-'));
const phone = has('--phone');
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args,
  viewport: phone ? { width: 390, height: 844 } : { width: 1000, height: 900 },
  deviceScaleFactor: 1,
  isMobile: phone,
  hasTouch: phone,
});
const result = { url };
const logs = [];
let page;
try {
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  const throttle = flags.indexOf('--throttle');
  if (throttle >= 0) {
    const kbps = Number(flags[throttle + 1]);
    const client = await context.newCDPSession(page);
    await client.send('Network.enable');
    await client.send('Network.emulateNetworkConditions', { offline: false, latency: 60, downloadThroughput: kbps * 1024, uploadThroughput: kbps * 1024 });
    result.throttle_kbps = kbps;
  }
  const memory = flags.indexOf('--device-memory');
  if (memory >= 0) {
    await page.addInitScript((gb) => Object.defineProperty(navigator, 'deviceMemory', { get: () => gb }), Number(flags[memory + 1]));
  }
  const casePage = flags.indexOf('--case-page');
  const started = Date.now();
  const response = await page.goto(url, { waitUntil: 'domcontentloaded' });
  result.status = response.status();
  if (casePage >= 0) {
    // Signed in through the page's own form; the session cookie must be out of the script's reach.
    await page.waitForSelector('#signin, [data-case-loaded]', { timeout: 60000 });
    if (await page.locator('#signin').count()) {
      await page.fill('#name', flags[casePage + 1]);
      await page.fill('#password', flags[casePage + 2]);
      await Promise.all([page.waitForNavigation({ timeout: 60000 }).catch(() => null), page.click('#signin button')]);
    }
    result.cookie_visible_to_script = await page.evaluate(() => document.cookie.includes('exhibit_session'));
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'exhibit_session');
    result.session_cookie = session ? { httpOnly: session.httpOnly, secure: session.secure, sameSite: session.sameSite } : null;
    await page.waitForFunction(() => document.documentElement.dataset.caseLoaded || document.documentElement.dataset.error, null, { timeout: 60000 });
    result.error = await page.evaluate(() => document.documentElement.dataset.error || null);
    if (!result.error) {
      result.evidence = await page.locator('#evidence').innerText();
      result.timeline_rows = await page.locator('#timeline tr').count();
      result.timeline = (await page.locator('#timeline').innerText()).slice(0, 4000);
      result.comparisons = await page.locator('#comparisons').innerText();
      await page.locator('[data-open]').first().click();
      await page.waitForFunction(() => ['shown', 'error'].includes(document.documentElement.dataset.state) && (document.documentElement.dataset.state === 'error' || document.documentElement.dataset.fullDetailMs), null, { timeout: 120000 });
      Object.assign(result, await page.evaluate(() => ({ ...document.documentElement.dataset })));
      result.viewer_status = await page.locator('#status').innerText();
    }
  } else if (has('--expect-closed')) {
    result.text = await page.locator('body').innerText();
  } else if (has('--expect-unavailable')) {
    // The live viewer cannot load: the page must say so and show its rendered picture, not an empty canvas.
    await page.waitForFunction(() => document.documentElement.dataset.state === 'error', null, { timeout: 60000 });
    await page.waitForFunction(() => { const img = document.querySelector('img.render'); return img && img.complete; }, null, { timeout: 60000 });
    Object.assign(result, await page.evaluate(() => ({ ...document.documentElement.dataset })));
    result.viewer_status = await page.locator('#status').innerText();
    result.canvas_visible = await page.locator('#view3d').isVisible();
    result.section_state = await page.evaluate(() => document.querySelector('section.live').dataset.state || null);
    result.picture = await page.evaluate(() => { const img = document.querySelector('img.render'); return { width: img.naturalWidth, height: img.naturalHeight, visible: img.offsetWidth > 0 }; });
    await page.screenshot({ path: join(out, 'page.png'), fullPage: true });
  } else {
    await page.waitForFunction(() => ['shown', 'error'].includes(document.documentElement.dataset.state) && (document.documentElement.dataset.state === 'error' || document.documentElement.dataset.fullDetailMs), null, { timeout: 120000 });
    const marks = await page.evaluate(() => ({ ...document.documentElement.dataset }));
    Object.assign(result, marks);
    result.wall_ms = Date.now() - started;
    result.viewer_status = await page.locator('#status').innerText();
    const canvas = page.locator('#view3d');
    const box = await canvas.evaluate((c) => ({ width: c.width, height: c.height }));
    result.canvas = box;
    await canvas.screenshot({ path: join(out, 'canvas.png') });
    if (has('--compare')) {
      await page.waitForFunction(() => document.documentElement.dataset.secondShown || document.documentElement.dataset.state === 'error', null, { timeout: 120000 });
      result.second_shown = await page.evaluate(() => document.documentElement.dataset.secondShown === '1');
      result.heat_map = await page.evaluate(() => {
        const img = document.querySelector('img[data-key=heat-map]');
        return img ? { complete: img.complete, width: img.naturalWidth, height: img.naturalHeight } : null;
      });
      result.layouts = [];
      for (const layout of ['side', 'swipe', 'overlay', 'heat', 'colour']) {
        await page.click(`button[data-layout=${layout}]`);
        await page.waitForFunction((l) => document.documentElement.dataset.layout === l, layout);
        await page.waitForTimeout(400);
        await page.locator('#compare .panes').screenshot({ path: join(out, `compare-${layout}.png`) });
        result.layouts.push(layout);
      }
      result.heat = JSON.parse(await page.evaluate(() => document.documentElement.dataset.heat || 'null'));
      result.colour = JSON.parse(await page.evaluate(() => document.documentElement.dataset.colour || 'null'));
      result.legend = await page.locator('#legend').innerText();
    }
    if (has('--touch-orbit')) {
      const rect = await canvas.boundingBox();
      const client = await context.newCDPSession(page);
      const y = rect.y + rect.height / 2;
      const x0 = rect.x + rect.width * 0.3;
      const frames = Number(marks.frames || 0);
      await client.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x: x0, y }] });
      for (let i = 1; i <= 10; i++) {
        await client.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: x0 + i * 15, y }] });
      }
      await client.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      await page.waitForFunction((before) => Number(document.documentElement.dataset.frames || 0) > before, frames, { timeout: 30000 });
      await page.waitForTimeout(300);
      result.frames_after_touch = Number(await page.evaluate(() => document.documentElement.dataset.frames));
      await canvas.screenshot({ path: join(out, 'canvas-after.png') });
      // Two fingers spreading apart: pinch-zoom in.
      const cx = rect.x + rect.width / 2;
      const before = result.frames_after_touch;
      await client.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x: cx - 20, y, id: 1 }, { x: cx + 20, y, id: 2 }] });
      for (let i = 1; i <= 10; i++) {
        await client.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: cx - 20 - i * 8, y, id: 1 }, { x: cx + 20 + i * 8, y, id: 2 }] });
      }
      await client.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      await page.waitForFunction((b) => Number(document.documentElement.dataset.frames || 0) > b, before, { timeout: 30000 });
      await page.waitForTimeout(300);
      await canvas.screenshot({ path: join(out, 'canvas-pinch.png') });
    }
  }
} catch (error) {
  result.failure = String(error);
  if (page) {
    result.marks = await page.evaluate(() => ({ ...document.documentElement.dataset })).catch(() => null);
    result.viewer_status = await page.locator('#status').innerText().catch(() => null);
  }
} finally {
  result.console = logs.slice(0, 30);
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
