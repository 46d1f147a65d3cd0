// End-to-end: the real Inkset Draw binary in its real webview (WebKitGTK), driven through
// tauri-driver + WebKitWebDriver under Xvfb, against a real inkset-server.
//
// One run per device pixel ratio (DPR=1 or DPR=2, set with GDK_SCALE): play a game of six
// rounds with real WebDriver mouse input (a stroke leaving and re-entering the canvas, an
// undone stroke, Enter as "done") and synthesized touch and pen Pointer Events; submit;
// find every drawing on the server with the points that were input (within 0.5 px).
// With DPR=1 it also plays a game with the server down, kills the app with the drawings
// unsynced, restarts both, and sees them synced. Screenshots at 1280x800 and 390x844 go to
// ui/test-artifacts/.
//
// Env: INKSET_DRAW_BIN, INKSET_SERVER_BIN, TAURI_DRIVER, WEBKIT_DRIVER (optional), DPR.

import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import assert from 'node:assert/strict';
import { Builder, By, until, Key, Origin } from 'selenium-webdriver';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = resolve(here, '..', 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
const DPR = Number(process.env.DPR ?? 1);
const appBin = resolve(process.env.INKSET_DRAW_BIN);
const serverBin = resolve(process.env.INKSET_SERVER_BIN);
const tauriDriver = process.env.TAURI_DRIVER ?? 'tauri-driver';
const work = mkdtempSync(join(tmpdir(), `inkset-e2e-dpr${DPR}-`));
const log = (...a) => console.log(`[e2e dpr=${DPR}]`, ...a);

const freePort = () =>
  new Promise((res) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ server

const serverPort = await freePort();
const serverUrl = `http://127.0.0.1:${serverPort}`;
const serverData = join(work, 'server');
execFileSync(serverBin, ['admin', 'create', 'e2e-admin', '--data-dir', serverData], {
  input: 'correct horse battery\n',
  stdio: ['pipe', 'inherit', 'inherit'],
});
let server = null;
async function startServer() {
  server = spawn(serverBin, ['serve', '--data-dir', serverData, '--listen', `127.0.0.1:${serverPort}`, '--no-trainer'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${serverUrl}/health/ready`)).ok) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error('server did not start');
}
async function stopServer() {
  if (!server) return;
  const done = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await done;
  server = null;
}
let adminToken = null;
async function admin(path) {
  if (!adminToken) {
    const r = await fetch(`${serverUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'e2e-admin', password: 'correct horse battery' }),
    });
    adminToken = (await r.json()).token;
  }
  const r = await fetch(`${serverUrl}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

// ------------------------------------------------------------------ app via tauri-driver

const appData = join(work, 'app');
let driverProc = null;
let driver = null;
async function openApp() {
  const port = await freePort();
  const nativePort = await freePort();
  const args = ['--port', String(port), '--native-port', String(nativePort)];
  if (process.env.WEBKIT_DRIVER) args.push('--native-driver', process.env.WEBKIT_DRIVER);
  driverProc = spawn(tauriDriver, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      INKSET_SERVER_URL: serverUrl,
      INKSET_DRAW_DATA_DIR: appData,
      GDK_SCALE: String(DPR),
      // Xvfb has no GPU: WebKit's accelerated compositing leaves screenshots stale.
      WEBKIT_DISABLE_COMPOSITING_MODE: '1',
      WEBKIT_DISABLE_DMABUF_RENDERER: '1',
      RUST_LOG: 'info',
    },
  });
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/status`);
      break;
    } catch {
      await sleep(100);
    }
  }
  driver = await new Builder()
    .usingServer(`http://127.0.0.1:${port}/`)
    .withCapabilities({ browserName: 'wry', 'tauri:options': { application: appBin } })
    .build();
  await driver.manage().window().setRect({ width: 1280, height: 800 });
  await driver.wait(until.elementLocated(By.id('play')), 30000);
}
async function closeApp() {
  try {
    await driver?.quit();
  } catch {
    // the app may be dead already
  }
  driver = null;
  if (driverProc) {
    const done = new Promise((r) => driverProc.once('exit', r));
    driverProc.kill('SIGTERM');
    await done;
    driverProc = null;
  }
}
async function shot(name) {
  const png = await driver.takeScreenshot();
  const file = join(artifacts, `dpr${DPR}-${name}.png`);
  writeFileSync(file, Buffer.from(png, 'base64'));
  log('screenshot', file);
}
const js = (f, ...args) => driver.executeScript(f, ...args);
const canvasRect = () =>
  js(() => {
    const r = document.getElementById('canvas').getBoundingClientRect();
    return { left: r.left, top: r.top, width: r.width, height: r.height };
  });

// ------------------------------------------------------------------ input

/** Real WebDriver mouse input: integer viewport positions. Returns the canvas-space points
 *  the app should record. */
async function mouseStroke(pts) {
  const rect = await canvasRect();
  const vp = pts.map(([x, y]) => [Math.round(rect.left + x), Math.round(rect.top + y)]);
  let a = driver.actions({ async: true }).move({ x: vp[0][0], y: vp[0][1], origin: Origin.VIEWPORT, duration: 0 }).press();
  for (const [x, y] of vp.slice(1)) a = a.move({ x, y, origin: Origin.VIEWPORT, duration: 0 });
  await a.release().perform();
  // Consecutive duplicates collapse into one sample (the pointer did not move).
  const expected = vp.map(([x, y]) => ({ x: x - rect.left, y: y - rect.top }));
  return expected.filter((p, i) => i === 0 || p.x !== expected[i - 1].x || p.y !== expected[i - 1].y);
}

/** Synthesized touch or pen Pointer Events on the canvas. WebKit keeps client coordinates
 *  as whole pixels (as its real touch and pen events are), so positions are rounded in
 *  viewport space and the expected canvas points follow from them. */
async function synthStroke(pointerType, pts, pressures) {
  return js(
    (pointerType, pts, pressures) => {
      const c = document.getElementById('canvas');
      const r = c.getBoundingClientRect();
      const at = ([x, y]) => [Math.round(r.left + x), Math.round(r.top + y)];
      const fire = (type, p, pressure) =>
        c.dispatchEvent(
          new PointerEvent(type, {
            bubbles: true,
            cancelable: true,
            pointerId: 7,
            isPrimary: true,
            pointerType,
            button: 0,
            buttons: type === 'pointerup' ? 0 : 1,
            clientX: at(p)[0],
            clientY: at(p)[1],
            pressure,
          }),
        );
      fire('pointerdown', pts[0], pressures[0]);
      pts.slice(1).forEach((p, i) => fire('pointermove', p, pressures[i + 1]));
      fire('pointerup', pts[pts.length - 1], 0);
      return pts.map((p) => ({ x: at(p)[0] - r.left, y: at(p)[1] - r.top }));
    },
    pointerType,
    pts,
    pressures,
  );
}

function shapePoints(shape, cx, cy, r) {
  const circle = (n) => Array.from({ length: n }, (_, i) => [cx + r * Math.cos((i / n) * 2 * Math.PI), cy + r * Math.sin((i / n) * 2 * Math.PI)]);
  const poly = (corners, per) =>
    corners.flatMap((a, i) => {
      const b = corners[(i + 1) % corners.length];
      return Array.from({ length: per }, (_, k) => [a[0] + ((b[0] - a[0]) * k) / per, a[1] + ((b[1] - a[1]) * k) / per]);
    }).concat([corners[0]]);
  switch (shape) {
    case 'line':
      return Array.from({ length: 20 }, (_, i) => [cx - r + (2 * r * i) / 19, cy + r / 2 - (r * i) / 19]);
    case 'square':
      return poly([[cx - r, cy - r], [cx + r, cy - r], [cx + r, cy + r], [cx - r, cy + r]], 6);
    case 'triangle':
      return poly([[cx, cy - r], [cx + r, cy + r * 0.8], [cx - r, cy + r * 0.8]], 7);
    case 'heart':
      return Array.from({ length: 32 }, (_, i) => {
        const t = (i / 31) * 2 * Math.PI;
        return [cx + (r / 17) * 16 * Math.sin(t) ** 3, cy - (r / 17) * (13 * Math.cos(t) - 5 * Math.cos(2 * t) - 2 * Math.cos(3 * t) - Math.cos(4 * t))];
      });
    default:
      return circle(28);
  }
}

// ------------------------------------------------------------------ one game

/** Plays six rounds: mouse, mouse, touch, touch, pen, pen. Returns per round the expected
 *  strokes (canvas points, pointer type, pressures). */
async function playGame({ screenshots }) {
  await driver.findElement(By.id('play')).click();
  const rounds = [];
  for (let round = 0; round < 6; round++) {
    await driver.wait(
      async () => (await js(() => document.getElementById('round-counter')?.textContent)) === `Round ${round + 1} of 6`,
      10000,
      `round ${round + 1}`,
    );
    const shape = await js(() => document.getElementById('prompt').dataset.shape);
    const rect = await canvasRect();
    const cx = Math.round(rect.width / 2);
    const cy = Math.round(rect.height / 2);
    const r = Math.round(Math.min(rect.width, rect.height) / 4);
    const pts = shapePoints(shape, cx, cy, r);
    const expected = [];
    if (round < 2) {
      if (round === 0) {
        // A stroke that leaves the canvas past its left edge and comes back (pointer
        // capture keeps it whole), then a stray stroke removed with Ctrl+Z.
        const out = [[40, 60], [20, 60], [-Math.min(30, rect.left - 2), 70], [-Math.min(30, rect.left - 2), 90], [20, 100], [60, 110]];
        expected.push({ type: 'mouse', points: await mouseStroke(out) });
        await mouseStroke([[cx + r + 30, cy], [cx + r + 60, cy + 20]]);
        await driver.actions({ async: true }).keyDown(Key.CONTROL).sendKeys('z').keyUp(Key.CONTROL).perform();
      }
      expected.push({ type: 'mouse', points: await mouseStroke(pts) });
    } else if (round < 4) {
      const pressures = pts.map(() => 0.5);
      expected.push({ type: 'touch', points: await synthStroke('touch', pts, pressures), pressures });
    } else {
      const pressures = pts.map((_, i) => Math.fround(0.2 + 0.6 * (i / pts.length)));
      expected.push({ type: 'pen', points: await synthStroke('pen', pts, pressures), pressures });
    }
    // The backing store follows the device pixel ratio.
    const store = await js(() => {
      const c = document.getElementById('canvas');
      return { w: c.width, cw: c.clientWidth, dpr: window.devicePixelRatio };
    });
    assert.equal(store.dpr, DPR, 'devicePixelRatio');
    assert.equal(store.w, Math.round(store.cw * DPR), 'backing store width');
    if (screenshots && round === 4) await shot('round-1280x800');
    if (round % 2 === 0) await driver.findElement(By.id('done')).click();
    else await driver.actions({ async: true }).sendKeys(Key.ENTER).perform();
    rounds.push({ shape, expected });
  }
  await driver.wait(until.elementLocated(By.id('summary')), 15000);
  return rounds;
}

async function summaryItems() {
  return js(() =>
    [...document.querySelectorAll('.summary-item')].map((e) => ({ id: e.dataset.id, shape: e.dataset.shape, state: e.dataset.state })),
  );
}

async function checkOnServer(rounds, items) {
  for (let i = 0; i < rounds.length; i++) {
    const { shape, expected } = rounds[i];
    const item = items[i];
    assert.equal(item.shape, shape);
    const { drawing } = await admin(`/api/admin/drawings/${item.id}`);
    assert.equal(drawing.shape, shape);
    assert.equal(drawing.device_pixel_ratio, DPR);
    assert.ok(drawing.prompt_to_first_point_ms >= 0);
    assert.equal(drawing.strokes.length, expected.length, `round ${i} strokes`);
    // WebKit's WebDriver adds a motion event at the release position (a repeat of the last
    // sample, later), and whole-pixel rounding can repeat a position: positions are compared
    // with consecutive repeats collapsed, on both sides alike.
    const moved = (pts) => pts.map((p, j) => j === 0 || p.x !== pts[j - 1].x || p.y !== pts[j - 1].y);
    drawing.strokes.forEach((stored, k) => {
      const raw = expected[k];
      const keep = moved(raw.points);
      const exp = {
        ...raw,
        points: raw.points.filter((_, j) => keep[j]),
        pressures: raw.pressures?.filter((_, j) => keep[j]),
      };
      const keepStored = moved(stored.points);
      const s = { ...stored, points: stored.points.filter((_, j) => keepStored[j]) };
      assert.equal(s.pointer_type, exp.type, `round ${i} pointer type`);
      assert.equal(s.points.length, exp.points.length, `round ${i} stroke ${k} point count: stored ${JSON.stringify(s.points.map((p) => [p.x, p.y]))} input ${JSON.stringify(exp.points.map((p) => [p.x, p.y]))}`);
      s.points.forEach((p, j) => {
        assert.ok(Math.abs(p.x - exp.points[j].x) <= 0.5 && Math.abs(p.y - exp.points[j].y) <= 0.5,
          `round ${i} stroke ${k} point ${j}: stored ${p.x},${p.y} input ${exp.points[j].x},${exp.points[j].y}`);
        if (exp.pressures) assert.ok(Math.abs(p.pressure - exp.pressures[j]) < 1e-6, `pressure ${p.pressure}`);
      });
      assert.equal(s.pressure_measured, exp.type === 'pen');
    });
  }
}

// ------------------------------------------------------------------ the run

try {
  await startServer();
  await openApp();
  const onboarding = await driver.findElements(By.id('onboarding-done'));
  assert.equal(onboarding.length, 1, 'first-run instructions shown');
  await shot('first-run-1280x800');
  await onboarding[0].click();
  const rounds = await playGame({ screenshots: true });
  await driver.wait(async () => (await summaryItems()).every((s) => s.state === 'synced'), 30000, 'all drawings synced');
  await shot('summary-1280x800');
  const items = await summaryItems();
  await checkOnServer(rounds, items);
  log('game 1: 6 drawings on the server with the input points');
  // The prompts came from the server's policy: the game asked exactly what it was dealt.
  const { summary } = await admin(`/api/admin/drawings/${items[0].id}`);
  const plan = await admin(`/api/admin/prompts?session=${summary.session_id}`);
  assert.equal(plan.policy, 'active');
  assert.ok(plan.session_prompts.length >= 6, JSON.stringify(plan));
  assert.deepEqual(rounds.map((r) => r.shape), plan.session_prompts.slice(0, 6), 'prompts as dealt');
  log(`game 1: prompts as the server dealt them (${plan.session_prompts.slice(0, 6).join(', ')})`);
  await driver.findElement(By.id('home')).click();
  await driver.wait(until.elementLocated(By.id('stat-total')), 10000);
  await driver.wait(async () => (await driver.findElement(By.css('#stat-total strong')).getText()) === '6', 10000);
  await shot('home-1280x800');
  // Phone, held upright.
  await driver.manage().window().setRect({ width: 390, height: 844 });
  await sleep(500);
  await shot('home-390x844');
  await driver.findElement(By.id('play')).click();
  await driver.wait(until.elementLocated(By.id('canvas')), 10000);
  const phoneRect = await canvasRect();
  assert.ok(phoneRect.width <= 390 && phoneRect.height > phoneRect.width, `phone canvas ${JSON.stringify(phoneRect)}`);
  await synthStroke('touch', shapePoints('circle', phoneRect.width / 2, phoneRect.height / 2, phoneRect.width / 4), Array(28).fill(0.5));
  await shot('round-390x844');
  await driver.actions({ async: true }).sendKeys(Key.ESCAPE).perform();
  await driver.manage().window().setRect({ width: 1280, height: 800 });

  if (DPR === 1) {
    // Offline, then killed with unsynced drawings; on restart they sync.
    await stopServer();
    const offlineRounds = await playGame({ screenshots: false });
    const offlineItems = await summaryItems();
    assert.equal(offlineItems.length, 6);
    assert.ok(offlineItems.every((s) => s.state === 'pending'), JSON.stringify(offlineItems));
    await driver.wait(async () => (await driver.findElement(By.id('sync-status')).getAttribute('data-pending')) === '6', 10000);
    await shot('offline-summary-1280x800');
    execFileSync('pkill', ['-KILL', '-f', appBin]);
    log('app killed with 6 unsynced drawings');
    await closeApp();
    await startServer();
    await openApp();
    await driver.wait(async () => (await driver.findElement(By.id('sync-status')).getAttribute('data-pending')) === '0', 60000, 'outbox drained after restart');
    await checkOnServer(offlineRounds, offlineItems);
    const all = await admin('/api/admin/drawings?limit=200');
    assert.equal(all.drawings.length, 12, 'each drawing once on the server');
    log('killed app: 6 offline drawings synced after restart, each once');
  }
  log('PASS');
} finally {
  await closeApp();
  await stopServer();
}
