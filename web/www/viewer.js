// The page side of the web viewer: fetch the model with visible progress, show the coarsest level of detail
// first and then the model itself, and turn pointer and touch gestures into camera moves. All drawing is done
// by the wasm (the same renderer as `exhibit render`).
//
// Marks for tests and benchmarks, on <html>: data-adapter, data-first-frame-ms and data-full-detail-ms (since
// the page started), data-first-level, data-preview-bytes (bytes downloaded when the coarsest level was drawn
// from a download under way) and data-file-bytes, data-state (loading, shown, error) and data-error.

import init, { Viewer } from './exhibit_web.js';

const root = document.documentElement;

function say(status, text) {
  if (status) status.textContent = text;
}

function fail(status, message) {
  root.dataset.state = 'error';
  root.dataset.error = message;
  // The live view is gone: hide its empty canvas and point at the rendered picture the page also carries.
  const section = status && status.closest('section.live');
  if (section) section.dataset.state = 'failed';
  say(status, `实时三维视图无法载入，请看下方的渲染图。 The live 3D view cannot load here; the rendered picture below shows the model. (${message})`);
}

/** Join downloaded parts into one buffer of `length` bytes (zeros after the parts). */
function join(parts, received, length) {
  const bytes = new Uint8Array(Math.max(length, received));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

/**
 * Read a response body, telling `progress(received, total)` as it arrives and `early(parts, received)` after
 * each part (it returns true once it has used them, and is not called again).
 */
async function readAll(response, progress, early) {
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const parts = [];
  let received = 0;
  let waiting = true;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    progress(received, total);
    if (waiting) waiting = !(await early(parts, received));
  }
  return join(parts, received, received);
}

function describe(facts) {
  const size = facts.points > 0 ? `${facts.points.toLocaleString()} 点 points` : `${facts.triangles.toLocaleString()} 三角形 triangles`;
  const level = facts.level > 0 ? `细节层级 level ${facts.level} of ${facts.levels - 1} (coarse preview)` : '完整模型 full model';
  const bound = facts.error_bound_mm != null ? ` · 误差界 bound ±${facts.error_bound_mm.toFixed(3)} mm` : '';
  let hash = ' · 校验中 checking…';
  if (facts.geometry_hash_matches === true) hash = ' · 几何校验通过 geometry matches its manifest';
  if (facts.geometry_hash_matches === false) hash = ' · 几何与清单不符 GEOMETRY DOES NOT MATCH ITS MANIFEST';
  return `${size} · ${level}${bound}${hash}`;
}

/**
 * The view to open with: a fragment the reader added (`#view=front` or `#view={camera JSON}`), else the view
 * stored with the link, which the page shows in its table (links stay short, so their QR codes stay small).
 */
function viewFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const stored = document.querySelector('[data-key="view"]');
  return fragment.get('view') || (stored ? stored.textContent : null);
}

/**
 * Open the model at `url` on `canvas`. `status` (an element) receives sentences; `started` is the
 * performance.now() the page counts from.
 */
export async function openViewer({ canvas, url, status, started = 0, onMove = null, token = null }) {
  root.dataset.state = 'loading';
  let viewer;
  try {
    await init();
    fit(canvas);
    viewer = await Viewer.open(canvas);
    // A model may take an eighth of the device's memory on the graphics side (navigator.deviceMemory, GiB,
    // where the browser tells it): a phone gets the level and texture size that fit.
    if (navigator.deviceMemory) viewer.set_memory_budget_mb(navigator.deviceMemory * 1024 / 8);
  } catch (error) {
    fail(status, `这个浏览器无法三维显示 this browser cannot draw in 3D (${error})`);
    return null;
  }
  root.dataset.adapter = viewer.adapter();
  say(status, '下载中 Downloading…');
  const requested = viewFromFragment();
  let facts;
  let shown = false;
  const show = (next) => {
    facts = next;
    if (!shown) {
      if (requested && requested.startsWith('{')) viewer.set_camera(requested);
      else if (requested) viewer.set_view(requested);
    }
    viewer.render();
    if (!shown) {
      root.dataset.firstFrameMs = String(Math.round(performance.now() - started));
      root.dataset.firstLevel = String(facts.level);
      root.dataset.state = 'shown';
      shown = true;
    }
    say(status, describe(facts));
  };
  // The coarsest level is at the front of the file: draw it as soon as its bytes are in, while the rest
  // downloads. The file's length is in its 12-byte header.
  // How many bytes the coarsest level needs, and the file's length: known once the JSON chunk is in, then
  // each new part only compares counts (no copy, no parse).
  let needed = -1;
  let length = 0;
  const early = async (parts, received) => {
    if (received < 20) return false;
    if (needed < 0) {
      const head = join(parts, received, received);
      needed = viewer.coarsest_needs(head);
      length = new DataView(head.buffer).getUint32(8, true);
      if (needed >= length) return true; // one level only: wait for the whole file
    }
    if (needed < 0 || received < needed) return false;
    try {
      show(JSON.parse(viewer.load_preview(join(parts, received, length))));
      root.dataset.previewBytes = String(received);
      await new Promise((resolve) => requestAnimationFrame(resolve));
    } catch (error) {
      // The preview is a convenience; the whole file is read and checked below either way.
    }
    return true;
  };
  let bytes;
  try {
    const response = await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : undefined);
    if (!response.ok) {
      fail(status, response.status === 410 ? '链接已失效 this link has expired or was revoked' : `HTTP ${response.status}`);
      return null;
    }
    bytes = await readAll(
      response,
      (received, total) => {
        const percent = total ? ` ${Math.floor((100 * received) / total)} %` : '';
        const progress = `下载中 Downloading${percent} (${(received / 1e6).toFixed(1)} MB)`;
        say(status, shown ? `${describe(facts)} · ${progress}` : progress);
      },
      early,
    );
  } catch (error) {
    fail(status, `下载失败 download failed (${error})`);
    return null;
  }
  try {
    // The whole file: its coarsest level first when nothing was shown yet (it decodes in a fraction of the
    // time), then the model itself, checked against its manifest.
    if (!shown) {
      show(JSON.parse(viewer.load(bytes, 1000)));
      if (facts.level > 0) await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    // The finest level this device can hold: the model itself, or, when a browser's graphics cannot take
    // it, the next coarser one (said on the page with its error bound).
    let limited = '';
    for (let level = 0; facts.level > level || facts.geometry_hash_matches === null; level++) {
      try {
        show(JSON.parse(viewer.load(bytes, level)));
        break;
      } catch (error) {
        limited = String(error.message || error);
        if (level + 1 >= facts.levels) throw error;
      }
    }
    root.dataset.fullDetailMs = String(Math.round(performance.now() - started));
    root.dataset.fileBytes = String(bytes.length);
    root.dataset.level = String(facts.level);
    root.dataset.gpuBytes = String(facts.gpu_bytes);
    root.dataset.textures = String(facts.textures);
    if (limited && facts.level > 0) {
      root.dataset.limited = limited;
      say(status, `${describe(facts)} · 完整模型超出本设备图形能力 the full model is too large for this device (${limited})`);
    }
  } catch (error) {
    fail(status, String(error));
    return null;
  }
  gestures(canvas, viewer, onMove);
  return viewer;
}

/**
 * Two models of a comparison: A on `canvasA` (as `openViewer`), B on `canvasB` in A's frame (moved by
 * `transform`, a saved comparison's; [] for as placed), one camera for both whatever pane is moved.
 * Layouts (buttons with `data-layout`): side by side, swipe (B over A, cut at the `swipe` slider), overlay
 * (both in one scene, A clay, B blue).
 */
export async function openComparison({ canvasA, canvasB, urlA, urlB, transform, tolerance = 0.5, status, swipe, frame, legend, started = 0 }) {
  let a = null;
  let b = null;
  const sync = (from) => {
    const [source, target] = from === 'a' ? [a, b] : [b, a];
    if (!source || !target) return;
    const camera = source.camera();
    if (camera) target.set_camera(camera);
    try {
      target.render();
    } catch (error) {
      // Drawn again on the next move.
    }
  };
  a = await openViewer({ canvas: canvasA, url: urlA, status, started, onMove: () => sync('a') });
  if (!a) return null;
  try {
    fit(canvasB);
    b = await Viewer.open(canvasB);
    const response = await fetch(urlB);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    b.load(bytes, 0);
    b.place_in(new Float64Array(JSON.parse(a.origin())), new Float64Array(transform));
    a.load_second(bytes, new Float64Array(transform));
    sync('a');
    root.dataset.secondShown = '1';
  } catch (error) {
    fail(status, `第二个模型 the second model: ${error}`);
    return null;
  }
  gestures(canvasB, b, () => sync('b'));
  const cut = () => {
    canvasB.style.clipPath = frame.dataset.layout === 'swipe' ? `inset(0 0 0 ${swipe.value}%)` : 'none';
  };
  let heat = null;
  let colour = null;
  const showColour = () => {
    try {
      // The print compared here, B placed by the saved transform, by the same code as `exhibit compare --colour`.
      colour = JSON.parse(a.compute_colour(3));
    } catch (error) {
      say(status, `色差 colour difference: ${error.message || error}`);
      return false;
    }
    root.dataset.colour = JSON.stringify({ mean_de: colour.mean_de, p95_de: colour.p95_de, max_de: colour.max_de, tolerance_de: colour.tolerance_de, share_above_tolerance: colour.share_above_tolerance, count: colour.count });
    return true;
  };
  const colourLegend = () => {
    const stops = colour.legend.map(([, [r, g, b]], i) => `rgb(${r},${g},${b}) ${(100 * i) / (colour.legend.length - 1)}%`);
    legend.innerHTML = `<div class="bar"></div>
      <div class="ticks"><span>0</span><span>ΔE₀₀ ${colour.tolerance_de}</span><span>≥ ${3 * colour.tolerance_de}</span></div>
      <p>色差 colour difference of A from B (CIEDE2000, ${colour.count} samples, ${colour.sampled}): mean ${colour.mean_de.toFixed(2)},
      95 % ${colour.p95_de.toFixed(2)}, max ${colour.max_de.toFixed(2)}; ${(100 * colour.share_above_tolerance).toFixed(2)} % above ΔE₀₀ ${colour.tolerance_de}
      (${colour.unmatched} without a partner within ${colour.max_distance_mm} mm)</p>`;
    legend.querySelector('.bar').style.background = `linear-gradient(90deg,${stops.join(',')})`;
  };
  const heatLegend = () => {
    const stops = heat.legend.map(([mm, [r, g, b]], i) => `rgb(${r},${g},${b}) ${(100 * i) / (heat.legend.length - 1)}%`);
    // The bar's gradient is set through the style object: a `style` attribute in markup would be refused by
    // the store's Content Security Policy.
    legend.innerHTML = `<div class="bar"></div>
      <div class="ticks"><span>−${heat.range_mm} mm</span><span>±${heat.tolerance_mm} mm</span><span>+${heat.range_mm} mm</span></div>
      <p>偏差 deviation of A from B: mean ${heat.mean_mm.toFixed(4)}, RMS ${heat.rms_mm.toFixed(4)}, 95 % ${heat.p95_mm.toFixed(4)},
      max ${heat.max_mm.toFixed(4)} mm; ${(100 * heat.within_tolerance).toFixed(2)} % within ±${heat.tolerance_mm} mm${
        heat.invented_share > 0
          ? `; ${(100 * heat.invented_share).toFixed(2)} % against surface a reconstruction filled in (与重建填补表面比较，推测)`
          : ''}</p>`;
    legend.querySelector('.bar').style.background = `linear-gradient(90deg,${stops.join(',')})`;
  };
  const setLayout = (layout) => {
    if (layout === 'colour' && !colour && !showColour()) return;
    if (layout === 'colour') colourLegend();
    if (layout === 'heat' && !heat) {
      try {
        // Measured again here, with the saved transform, by the same code as `exhibit compare`.
        heat = JSON.parse(a.compute_heat(new Float64Array(transform), tolerance));
      } catch (error) {
        say(status, `热图 heat map: ${error.message || error}`);
        return;
      }
      root.dataset.heat = JSON.stringify({ mean_mm: heat.mean_mm, rms_mm: heat.rms_mm, p95_mm: heat.p95_mm, max_mm: heat.max_mm, within_tolerance: heat.within_tolerance });
    }
    if (layout === 'heat') heatLegend();
    frame.dataset.layout = layout;
    cut();
    a.set_heat(layout === 'heat');
    a.set_colour(layout === 'colour');
    legend.hidden = layout !== 'heat' && layout !== 'colour';
    a.set_overlay(layout === 'overlay');
    root.dataset.layout = layout;
    requestAnimationFrame(() => {
      try {
        a.render();
        sync('a');
      } catch (error) {
        // Drawn again on the next move.
      }
    });
  };
  for (const button of document.querySelectorAll('[data-layout]')) {
    if (button !== frame) button.addEventListener('click', () => setLayout(button.dataset.layout));
  }
  swipe.addEventListener('input', cut);
  cut();
  return { a, b, setLayout };
}

/** Size the drawing buffer to the element's size in device pixels. */
function fit(canvas) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
}

/**
 * One finger (or the left button) orbits; two fingers pan and pinch-zoom; the right button or shift pans; the
 * wheel zooms. `onMove` runs after each frame a gesture drew.
 */
function gestures(canvas, viewer, onMove) {
  const ratio = () => window.devicePixelRatio || 1;
  const pointers = new Map();
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      try {
        viewer.render();
        root.dataset.frames = String(Number(root.dataset.frames || 0) + 1);
        if (onMove) onMove();
      } catch (error) {
        // A lost frame (resize, background tab) is drawn again on the next gesture.
      }
    });
  };
  const centre = () => {
    const all = [...pointers.values()];
    return {
      x: all.reduce((s, p) => s + p.x, 0) / all.length,
      y: all.reduce((s, p) => s + p.y, 0) / all.length,
      spread: all.length > 1 ? Math.hypot(all[0].x - all[1].x, all[0].y - all[1].y) : 0,
    };
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey });
  });
  canvas.addEventListener('pointermove', (e) => {
    const previous = pointers.get(e.pointerId);
    if (!previous) return;
    if (pointers.size === 1) {
      const dx = (e.clientX - previous.x) * ratio();
      const dy = (e.clientY - previous.y) * ratio();
      if (previous.pan) viewer.pan(dx, dy);
      else viewer.orbit(dx, dy);
      pointers.set(e.pointerId, { ...previous, x: e.clientX, y: e.clientY });
    } else {
      const before = centre();
      pointers.set(e.pointerId, { ...previous, x: e.clientX, y: e.clientY });
      const after = centre();
      viewer.pan((after.x - before.x) * ratio(), (after.y - before.y) * ratio());
      if (before.spread > 0 && after.spread > 0) viewer.zoom(after.spread / before.spread);
    }
    redraw();
  });
  const release = (e) => pointers.delete(e.pointerId);
  canvas.addEventListener('pointerup', release);
  canvas.addEventListener('pointercancel', release);
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      viewer.zoom(Math.exp(-e.deltaY * 0.0015));
      redraw();
    },
    { passive: false },
  );
  new ResizeObserver(() => {
    const ratioNow = ratio();
    viewer.resize(Math.round(canvas.clientWidth * ratioNow), Math.round(canvas.clientHeight * ratioNow));
    redraw();
  }).observe(canvas);
  if (canvas.dataset.pane !== 'b') {
    for (const button of document.querySelectorAll('[data-view]')) {
      button.addEventListener('click', () => {
        viewer.set_view(button.dataset.view);
        redraw();
      });
    }
  }
}
