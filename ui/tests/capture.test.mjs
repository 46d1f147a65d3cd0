// Capture tests: the real capture module (src/capture.ts) in Debian's Chromium, driven by
// synthesized Pointer Events. Run: npm test (needs /usr/bin/chromium or CHROMIUM_PATH).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '.harness-dist');
let server;
let browser;
let base;

before(async () => {
  execFileSync('npx', ['vite', 'build', '--config', 'tests/vite.harness.config.ts'], {
    cwd: join(here, '..'),
    stdio: 'inherit',
  });
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  server = createServer(async (req, res) => {
    const path = join(dist, req.url === '/' ? 'harness.html' : decodeURIComponent(req.url.split('?')[0]));
    try {
      const body = await readFile(path);
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}/harness.html`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function page(deviceScaleFactor = 1) {
  const context = await browser.newContext({ deviceScaleFactor, viewport: { width: 800, height: 600 } });
  const p = await context.newPage();
  await p.goto(base);
  await p.waitForFunction(() => window.capture !== undefined);
  return p;
}

// Dispatches pointer events on the pad. Each step: [type, init] with client coordinates.
async function drive(p, steps) {
  await p.evaluate((steps) => {
    const pad = document.getElementById('pad');
    for (const [type, init] of steps) {
      const e = new PointerEvent(type, {
        bubbles: true,
        cancelable: true,
        pointerId: 1,
        isPrimary: true,
        pointerType: 'mouse',
        button: 0,
        ...init,
        coalescedEvents: (init.coalesced ?? []).map(
          (c) => new PointerEvent('pointermove', { pointerId: init.pointerId ?? 1, pointerType: init.pointerType ?? 'mouse', ...c }),
        ),
      });
      for (const [k, v] of Object.entries(init.override ?? {})) Object.defineProperty(e, k, { value: v });
      pad.dispatchEvent(e);
    }
  }, steps);
  return p.evaluate(() => ({ strokes: window.capture.strokes, dropped: window.capture.dropped }));
}

// The pad sits at (40, 30) on the page.
const at = (x, y, extra = {}) => ({ clientX: 40 + x, clientY: 30 + y, ...extra });

test('a stroke that leaves and re-enters the canvas keeps every sample, in canvas pixels', async () => {
  const p = await page();
  const { strokes } = await drive(p, [
    ['pointerdown', at(10, 10, { pressure: 0.5 })],
    ['pointermove', at(-20, 15, { pressure: 0.5 })],
    ['pointermove', at(-35.5, 20.25, { pressure: 0.5 })],
    ['pointermove', at(12, 22, { pressure: 0.5 })],
    ['pointerup', at(12, 22, { pressure: 0 })],
  ]);
  assert.equal(strokes.length, 1);
  assert.deepEqual(strokes[0].points.map((q) => [q.x, q.y]), [[10, 10], [-20, 15], [-35.5, 20.25], [12, 22]]);
  assert.equal(strokes[0].pointer_type, 'mouse');
  assert.equal(strokes[0].pressure_measured, false);
  for (const q of strokes[0].points) assert.ok(Number.isInteger(q.timestamp) && q.timestamp > 1.7e12);
});

test('pointercancel mid-stroke keeps what was drawn and ends the stroke', async () => {
  const p = await page();
  const { strokes } = await drive(p, [
    ['pointerdown', at(5, 5, { pointerType: 'touch', pressure: 0.3 })],
    ['pointermove', at(6, 7, { pointerType: 'touch', pressure: 0.4 })],
    ['pointercancel', at(6, 7, { pointerType: 'touch', pressure: 0 })],
    ['pointermove', at(50, 50, { pointerType: 'touch', pressure: 0.4 })],
    ['pointerdown', at(100, 100, { pointerType: 'touch', pressure: 0.6, pointerId: 2 })],
    ['pointerup', at(100, 100, { pointerType: 'touch', pressure: 0, pointerId: 2 })],
  ]);
  assert.equal(strokes.length, 2);
  // PointerEvent.pressure is a float32: recorded exactly as reported.
  assert.deepEqual(strokes[0].points.map((q) => [q.x, q.y, q.pressure]), [[5, 5, Math.fround(0.3)], [6, 7, Math.fround(0.4)]]);
  assert.equal(strokes[0].pressure_measured, true);
  assert.equal(strokes[1].points.length, 1);
});

test('coalesced samples are all kept', async () => {
  const p = await page();
  const coalesced = Array.from({ length: 8 }, (_, i) => at(20 + i * 1.5, 40 + i * 0.75, { pressure: 0.2 + i * 0.05 }));
  const { strokes } = await drive(p, [
    ['pointerdown', at(20, 40, { pointerType: 'pen', pressure: 0.1 })],
    ['pointermove', { ...at(30.5, 45.25, { pointerType: 'pen', pressure: 0.55 }), coalesced }],
    ['pointerup', at(30.5, 45.25, { pointerType: 'pen', pressure: 0 })],
  ]);
  const supported = await p.evaluate(() => new PointerEvent('pointermove', { coalescedEvents: [new PointerEvent('pointermove')] }).getCoalescedEvents().length === 1);
  assert.ok(supported, 'this Chromium must support PointerEventInit.coalescedEvents');
  assert.equal(strokes[0].points.length, 1 + 8);
  strokes[0].points.slice(1).forEach((q, i) => {
    assert.equal(q.x, 20 + i * 1.5);
    assert.equal(q.y, 40 + i * 0.75);
    assert.ok(Math.abs(q.pressure - (0.2 + i * 0.05)) < 1e-6);
  });
  assert.equal(strokes[0].pressure_measured, true);
});

test('a pen reporting pressure 0 on every point is recorded as 0, flagged as not measured', async () => {
  const p = await page();
  const { strokes } = await drive(p, [
    ['pointerdown', at(1, 1, { pointerType: 'pen', pressure: 0 })],
    ['pointermove', at(2, 3, { pointerType: 'pen', pressure: 0 })],
    ['pointermove', at(4, 6, { pointerType: 'pen', pressure: 0 })],
    ['pointerup', at(4, 6, { pointerType: 'pen', pressure: 0 })],
  ]);
  assert.deepEqual(strokes[0].points.map((q) => q.pressure), [0, 0, 0]);
  assert.equal(strokes[0].pointer_type, 'pen');
  assert.equal(strokes[0].pressure_measured, false);
});

test('a pen reported as mouse with pressure 0.5 keeps the report and is not measured', async () => {
  const p = await page();
  const { strokes } = await drive(p, [
    ['pointerdown', at(10, 10, { pressure: 0.5 })],
    ['pointermove', at(11, 12, { pressure: 0.5 })],
    ['pointerup', at(11, 12, { pressure: 0 })],
  ]);
  assert.equal(strokes[0].pointer_type, 'mouse');
  assert.deepEqual(strokes[0].points.map((q) => q.pressure), [0.5, 0.5]);
  assert.equal(strokes[0].pressure_measured, false);
});

test('a tap is one point', async () => {
  const p = await page();
  const { strokes } = await drive(p, [
    ['pointerdown', at(77, 88, { pointerType: 'touch', pressure: 0.5 })],
    ['pointerup', at(77, 88, { pointerType: 'touch', pressure: 0 })],
  ]);
  assert.equal(strokes.length, 1);
  assert.deepEqual(strokes[0].points.map((q) => [q.x, q.y]), [[77, 88]]);
  assert.equal(strokes[0].pressure_measured, false);
});

test('a second touch mid-stroke is ignored and cancels nothing', async () => {
  const p = await page();
  const t = (x, y, id, extra = {}) => at(x, y, { pointerType: 'touch', pointerId: id, isPrimary: id === 1, pressure: 0.5, ...extra });
  const { strokes } = await drive(p, [
    ['pointerdown', t(10, 10, 1)],
    ['pointermove', t(20, 10, 1)],
    ['pointerdown', t(200, 200, 2)],
    ['pointermove', t(210, 210, 2)],
    ['pointermove', t(30, 10, 1)],
    ['pointerup', t(210, 210, 2, { pressure: 0 })],
    ['pointercancel', t(210, 210, 2)],
    ['pointermove', t(40, 10, 1)],
    ['pointerup', t(40, 10, 1, { pressure: 0 })],
  ]);
  assert.equal(strokes.length, 1);
  assert.deepEqual(strokes[0].points.map((q) => q.x), [10, 20, 30, 40]);
});

test('non-finite samples are dropped and counted, never stored', async () => {
  const p = await page();
  const { strokes, dropped } = await drive(p, [
    ['pointerdown', at(10, 10, { pointerType: 'pen', pressure: 0.4 })],
    ['pointermove', { ...at(11, 11, { pointerType: 'pen', pressure: 0.4 }), override: { clientX: NaN } }],
    ['pointermove', { ...at(12, 12, { pointerType: 'pen' }), override: { pressure: Infinity } }],
    ['pointermove', at(5000, 12, { pointerType: 'pen', pressure: 0.5 })],
    ['pointermove', at(13, 13, { pointerType: 'pen', pressure: 0.6 })],
    ['pointerup', at(13, 13, { pointerType: 'pen', pressure: 0 })],
  ]);
  assert.equal(dropped, 3);
  assert.deepEqual(strokes[0].points.map((q) => [q.x, q.y]), [[10, 10], [13, 13]]);
  for (const q of strokes[0].points) for (const v of Object.values(q)) assert.ok(Number.isFinite(v));
});

test('coordinates are CSS pixels at device pixel ratio 2 and under CSS scaling', async () => {
  const p = await page(2);
  assert.equal(await p.evaluate(() => window.devicePixelRatio), 2);
  const { strokes } = await drive(p, [
    ['pointerdown', at(100.5, 50.25, { pressure: 0.5 })],
    ['pointerup', at(100.5, 50.25, { pressure: 0 })],
  ]);
  assert.deepEqual([strokes[0].points[0].x, strokes[0].points[0].y], [100.5, 50.25]);
  // A canvas shown at half size by a transform still reports its own CSS pixels.
  await p.evaluate(() => {
    window.capture.clear();
    const pad = document.getElementById('pad');
    pad.style.transformOrigin = '0 0';
    pad.style.transform = 'scale(0.5)';
  });
  const scaled = await drive(p, [
    ['pointerdown', at(50, 25, { pressure: 0.5 })],
    ['pointerup', at(50, 25, { pressure: 0 })],
  ]);
  assert.deepEqual([scaled.strokes[0].points[0].x, scaled.strokes[0].points[0].y], [100, 50]);
});

test("a pen's tilt and twist and a finger's contact size are kept; a mouse's are not", async () => {
  const p = await page();
  const { strokes } = await drive(p, [
    ['pointerdown', at(10, 10, { pointerType: 'pen', pressure: 0.4, tiltX: -30, tiltY: 12, twist: 90, width: 1, height: 1 })],
    ['pointermove', at(20, 15, { pointerType: 'pen', pressure: 0.5, tiltX: -31, tiltY: 13, twist: 91, width: 1, height: 1 })],
    ['pointerup', at(20, 15, { pointerType: 'pen', pressure: 0 })],
    ['pointerdown', at(50, 50, { pointerType: 'touch', pressure: 0.6, width: 23.5, height: 19.25, pointerId: 2 })],
    ['pointermove', at(60, 52, { pointerType: 'touch', pressure: 0.7, width: 24, height: 20, pointerId: 2 })],
    ['pointerup', at(60, 52, { pointerType: 'touch', pressure: 0, pointerId: 2 })],
    ['pointerdown', at(5, 5, { pressure: 0.5, tiltX: 10 })],
    ['pointermove', at(9, 9, { pressure: 0.5, tiltX: 10 })],
    ['pointerup', at(9, 9, { pressure: 0 })],
  ]);
  assert.equal(strokes.length, 3);
  assert.deepEqual(
    strokes[0].points.map((q) => [q.tilt_x, q.tilt_y, q.twist, q.width, q.height]),
    [[-30, 12, 90, 1, 1], [-31, 13, 91, 1, 1]],
  );
  assert.deepEqual(strokes[1].points.map((q) => [q.width, q.height, q.tilt_x]), [[23.5, 19.25, undefined], [24, 20, undefined]]);
  assert.ok(strokes[2].points.every((q) => q.tilt_x === undefined && q.width === undefined));
});
