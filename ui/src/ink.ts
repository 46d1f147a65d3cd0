// Ink rendering: strokes as smooth, pressure-aware outlines (perfect-freehand) on a backing
// store sized to the device pixel ratio. The outline is for display only; what is stored
// is the raw samples of capture.ts.

import { getStroke } from 'perfect-freehand';
import type { Stroke } from './capture';

/** Resizes `canvas`'s backing store to its CSS size times the device pixel ratio and
 *  returns a context that draws in CSS pixels. */
export function fitBackingStore(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d');
  ctx?.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function outlinePath(points: number[][]): Path2D {
  const path = new Path2D();
  if (points.length === 0) return path;
  const [first, ...rest] = points;
  path.moveTo(first[0], first[1]);
  // Quadratic curves through midpoints: a smooth closed outline.
  for (let i = 0; i < rest.length; i++) {
    const [x0, y0] = rest[i];
    const [x1, y1] = rest[(i + 1) % rest.length];
    path.quadraticCurveTo(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2);
  }
  path.closePath();
  return path;
}

/** Draws `strokes` scaled by `scale` around `offset` (CSS px). `live` marks the last stroke
 *  as still being drawn (its end is not tapered yet). */
export function drawStrokes(
  ctx: CanvasRenderingContext2D,
  strokes: Stroke[],
  opts: { scale?: number; offsetX?: number; offsetY?: number; live?: boolean } = {},
): void {
  const scale = opts.scale ?? 1;
  const ox = opts.offsetX ?? 0;
  const oy = opts.offsetY ?? 0;
  strokes.forEach((s, i) => {
    if (s.points.length === 0) return;
    const input = s.points.map((p) => [p.x * scale + ox, p.y * scale + oy, p.pressure]);
    const outline = getStroke(input, {
      size: Math.max(1.5, s.width * 2 * scale),
      thinning: s.pressure_measured ? 0.6 : 0.45,
      smoothing: 0.5,
      streamline: 0.4,
      simulatePressure: !s.pressure_measured,
      last: !(opts.live && i === strokes.length - 1),
    });
    ctx.fillStyle = s.color || '#1d1d1f';
    ctx.fill(outlinePath(outline));
  });
}

/** Renders a whole drawing fitted into `canvas` (thumbnails of the game summary). */
export function drawThumbnail(canvas: HTMLCanvasElement, strokes: Stroke[]): void {
  const ctx = fitBackingStore(canvas);
  if (!ctx) return;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  const pts = strokes.flatMap((s) => s.points);
  if (pts.length === 0) return;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const bw = Math.max(1, Math.max(...xs) - minX);
  const bh = Math.max(1, Math.max(...ys) - minY);
  const pad = 0.12;
  const scale = Math.min((w * (1 - 2 * pad)) / bw, (h * (1 - 2 * pad)) / bh);
  drawStrokes(ctx, strokes, {
    scale,
    offsetX: (w - bw * scale) / 2 - minX * scale,
    offsetY: (h - bh * scale) / 2 - minY * scale,
  });
}
