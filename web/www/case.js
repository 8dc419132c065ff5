// The case page for signed-in users: the case, its evidence and versions with the parties' confirmations,
// saved comparisons, and the custody timeline, all read from the store's API with the session the user signed in
// with (an HttpOnly cookie this script never sees; changes carry the session's CSRF token); any version opens in
// the live viewer.
//
// Marks on <html> for tests: data-case-loaded, data-error, data-signed-in.

import { openViewer } from './viewer.js';

const root = document.documentElement;

function text(value) {
  const span = document.createElement('span');
  span.textContent = value == null ? '—' : String(value);
  return span.innerHTML;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  if (response.status === 401) throw Object.assign(new Error('请登录 please sign in'), { signIn: true });
  if (response.status === 404) throw new Error('没有这个案件，或您无权查看 no such case, or not one of yours');
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

function signIn(main, message) {
  main.innerHTML = `<h1>登录 Sign in</h1><p id="signin-message">${text(message || '请输入法院为您开设的账户。 Sign in with the account the court made for you.')}</p>
    <form id="signin"><label>用户名 Name <input id="name" autocomplete="username" required></label>
    <label>密码 Password <input id="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">登录 Sign in</button></form>`;
  main.querySelector('#signin').addEventListener('submit', async (e) => {
    e.preventDefault();
    const response = await fetch('/api/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: main.querySelector('#name').value, password: main.querySelector('#password').value }),
    });
    if (response.ok) {
      location.reload();
      return;
    }
    const answer = await response.json().catch(() => ({}));
    const message = response.status === 429 ? `尝试次数过多 ${answer.error || ''}` : `用户名或密码错误 ${answer.error || 'wrong name or password'}`;
    main.querySelector('#signin-message').textContent = message;
    root.dataset.error = message;
  });
}

function confirmations(list) {
  if (!list.length) return '尚无确认 no confirmations yet';
  return list
    .map((c) => {
      const decision = c.decision === 'confirm' ? '确认 confirms' : '异议 objects';
      const side = c.side ? `, ${text(c.side)}` : '';
      const reason = c.reason ? `: ${text(c.reason)}` : '';
      const signature = c.signature_verifies ? '签名有效 signature verifies' : '签名无效 SIGNATURE DOES NOT VERIFY';
      return `<div class="${c.decision}">${text(c.by)} (${text(c.role)}${side}) ${decision}${reason} — ${signature}</div>`;
    })
    .join('');
}

export async function openCase({ main, caseId }) {
  try {
    const [who, found, evidence, events, comparisons] = await Promise.all([
      api('/api/session'),
      api(`/api/cases/${caseId}`),
      api(`/api/cases/${caseId}/evidence`),
      api(`/api/cases/${caseId}/events`),
      api(`/api/cases/${caseId}/comparisons`),
    ]);
    const members = (found.members || []).map((m) => `${text(m.name)} (${text(m.role)}${m.side ? `, ${text(m.side)}` : ''})`).join('; ');
    const items = evidence.evidence
      .map((item) => {
        const versions = item.versions
          .map(
            (v) => `<tr><td>${v.version}</td><td>${text(v.filename)}<br><code>${text(v.sha256)}</code></td>
              <td>${v.bytes.toLocaleString()} bytes<br>${text(v.uploaded_by)}, ${text(v.created_at)}</td>
              <td data-key="confirmations">${confirmations(v.confirmations)}</td>
              <td><button type="button" data-open="${text(v.sha256)}">三维查看 view in 3D</button></td></tr>`,
          )
          .join('');
        const files = item.files.map((f) => `${text(f.filename)} <code>${text(f.sha256)}</code>`).join('<br>') || '—';
        return `<section class="item" data-evidence="${item.id}"><h3>${text(item.label)} <small>(${text(item.kind)}; ${text(item.submitted_by)})</small></h3>
          <table><tr><th>版本 Version</th><th>文件 File</th><th>大小 Size, uploaded</th><th>当事人确认 Confirmations</th><th></th></tr>${versions}</table>
          <p>原始扫描 Raw scans: ${files}</p></section>`;
      })
      .join('');
    const compared = comparisons.comparisons
      .map((c) => `<tr><td>${c.id}</td><td><code>${text(c.a)}</code><br><code>${text(c.b)}</code></td>
        <td>${text(c.summary.method)}; mean ${text(c.summary.mean_mm)}, RMS ${text(c.summary.rms_mm)}, max ${text(c.summary.max_mm)} mm;
        ±${text(c.summary.tolerance_mm)} mm: ${(100 * c.summary.within_tolerance).toFixed(2)} % within</td>
        <td>${text(c.created_by)} (${text(c.created_by_role)}), ${text(c.created_at)}</td></tr>`)
      .join('');
    const timeline = events.events
      .map((e) => `<tr><td>${e.id}</td><td>${text(e.at)}</td><td>${text(e.actor)} (${text(e.role)})</td><td>${text(e.action)}</td>
        <td>${text(e.object)}</td><td>${text(e.outcome)}</td></tr>`)
      .join('');
    main.innerHTML = `<p class="who">${text(who.name)} (${text(who.role)}) · <a href="#" id="signout">退出 sign out</a></p>
      <h1>${text(found.court)} ${text(found.number)}</h1><p>${text(found.title)}</p><p>成员 Members: ${members || '—'}</p>
      <section class="live" hidden id="live"><canvas id="view3d"></canvas><div class="views">
        ${['front', 'back', 'left', 'right', 'top', 'bottom', 'iso'].map((v) => `<button type="button" data-view="${v}">${v}</button>`).join('')}
      </div><p id="status"></p></section>
      <h2>证据 Evidence</h2><div id="evidence">${items || '—'}</div>
      <h2>比对 Comparisons</h2><table id="comparisons"><tr><th>#</th><th>A / B</th><th>结果 Result</th><th>保存 Saved by</th></tr>${compared}</table>
      <h2>保管时间线 Custody timeline</h2><table id="timeline"><tr><th>#</th><th>时间 Time (UTC)</th><th>人 Who</th><th>动作 Action</th><th>对象 Object</th><th>结果 Outcome</th></tr>${timeline}</table>`;
    root.dataset.signedIn = who.name;
    main.querySelector('#signout').addEventListener('click', async (e) => {
      e.preventDefault();
      await api('/api/session', { method: 'DELETE', headers: { 'X-CSRF-Token': who.csrf } });
      location.reload();
    });
    let opened = false;
    for (const button of main.querySelectorAll('[data-open]')) {
      button.addEventListener('click', async () => {
        if (opened) {
          // One device per page: open the next version in a fresh page.
          sessionStorage.setItem('exhibit-open', button.dataset.open);
          location.reload();
          return;
        }
        opened = true;
        const live = main.querySelector('#live');
        live.hidden = false;
        live.scrollIntoView();
        await openViewer({ canvas: main.querySelector('#view3d'), url: `/api/blobs/${button.dataset.open}`, status: main.querySelector('#status'), started: performance.now() });
      });
    }
    root.dataset.caseLoaded = '1';
    const pending = sessionStorage.getItem('exhibit-open');
    if (pending) {
      sessionStorage.removeItem('exhibit-open');
      main.querySelector(`[data-open="${pending}"]`)?.click();
    }
  } catch (error) {
    root.dataset.error = String(error.message || error);
    if (error.signIn) signIn(main, error.message);
    else main.innerHTML = `<h1>${text(error.message || error)}</h1>`;
  }
}
