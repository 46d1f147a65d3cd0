// Raw pointer capture: records what the hand did, not what looked nice.
//
// - Pointer Events for mouse, touch and pen, with pointer capture so a stroke that leaves
//   the canvas keeps its samples until the pointer comes up, and `getCoalescedEvents()` so
//   every sample a fast pen produced between two frames is kept.
// - One stroke at a time: a second pointer (another finger, a palm) landing mid-stroke is
//   ignored and cancels nothing already drawn.
// - Per point: x, y in canvas CSS pixels (client position minus the canvas's offset,
//   undoing any CSS scaling), pressure exactly as reported, timestamp in ms since the Unix
//   epoch (performance.timeOrigin + event.timeStamp, client clock). Per stroke: the
//   reported pointerType, and `pressure_measured: false` when the pressure values are not a
//   measurement (a mouse; a constant 0.5 or 0 from a webview that reports pen/touch without
//   force). Pressure is never invented. A pen's points also carry its tilt (`tilt_x`,
//   `tilt_y`, degrees) and `twist`; pen and touch points carry the contact's `width` and
//   `height` (canvas CSS px), all as the Pointer Event reported them.
// - A sample with a non-finite number, or beyond the canvas plus its margin (the server's
//   validation bound: one canvas side around it), is dropped and counted, never stored.

export interface Point {
  x: number;
  y: number;
  pressure: number;
  timestamp: number;
  tilt_x?: number;
  tilt_y?: number;
  twist?: number;
  width?: number;
  height?: number;
}

export interface Stroke {
  points: Point[];
  color: string;
  width: number;
  pointer_type: string;
  pressure_measured: boolean;
}

export interface CaptureOptions {
  /** Called after every change (new sample, stroke end, undo, clear). */
  onChange?: (c: Capture) => void;
  /** Called when a stroke ends (pointerup, pointercancel, lost capture). */
  onStrokeEnd?: (c: Capture) => void;
  /** Ink colour, CSS hex. */
  color?: string;
  /** Nominal ink width, CSS px. */
  width?: number;
}

/** Absolute client time of an event, ms since the Unix epoch. */
export function eventTime(e: Event): number {
  return Math.round(performance.timeOrigin + e.timeStamp);
}

/** Whether a stroke's pressure values are a real measurement (see the module comment). */
export function pressureMeasured(pointerType: string, pressures: number[]): boolean {
  if (pointerType !== 'pen' && pointerType !== 'touch') return false;
  if (pressures.length === 0) return false;
  const first = pressures[0];
  const constant = pressures.every((p) => p === first);
  if (constant && (first === 0 || first === 0.5)) return false;
  return true;
}

export class Capture {
  strokes: Stroke[] = [];
  /** Samples dropped as non-finite or out of bounds. */
  dropped = 0;
  /** Client time of the first point of the drawing, ms since the Unix epoch. */
  firstPointAt: number | null = null;
  private active: { id: number; stroke: Stroke; pressures: number[] } | null = null;
  private readonly opts: Required<Pick<CaptureOptions, 'color' | 'width'>> & CaptureOptions;
  private readonly listeners: Array<[string, EventListener]> = [];
  enabled = true;

  constructor(readonly canvas: HTMLElement, opts: CaptureOptions = {}) {
    this.opts = { color: '#1d1d1f', width: 4, ...opts };
    canvas.style.touchAction = 'none';
    const on = (type: string, f: (e: PointerEvent) => void) => {
      const l = f as EventListener;
      canvas.addEventListener(type, l, { passive: false });
      this.listeners.push([type, l]);
    };
    on('pointerdown', (e) => this.down(e));
    on('pointermove', (e) => this.move(e));
    on('pointerup', (e) => this.up(e));
    on('pointercancel', (e) => this.end(e));
    on('lostpointercapture', (e) => this.end(e));
  }

  detach(): void {
    for (const [t, l] of this.listeners) this.canvas.removeEventListener(t, l);
    this.listeners.length = 0;
  }

  get drawing(): boolean {
    return this.active !== null;
  }

  pointCount(): number {
    return this.strokes.reduce((n, s) => n + s.points.length, 0);
  }

  /** The canvas size in CSS pixels: its layout box (fractional), or, when a CSS transform
   *  scales it, its untransformed size. */
  size(): { width: number; height: number } {
    const rect = this.canvas.getBoundingClientRect();
    const [sx, sy] = this.scale(rect);
    return { width: rect.width * sx, height: rect.height * sy };
  }

  /** CSS pixels of the canvas per viewport pixel: 1 unless a CSS transform scales it
   *  (clientWidth is rounded to whole pixels, so only a real difference counts). The
   *  canvas must have no border or padding: its layout box is its drawing surface. */
  private scale(rect: DOMRect): [number, number] {
    const cw = this.canvas.clientWidth;
    const ch = this.canvas.clientHeight;
    const sx = rect.width > 0 && Math.abs(rect.width - cw) > 1 ? cw / rect.width : 1;
    const sy = rect.height > 0 && Math.abs(rect.height - ch) > 1 ? ch / rect.height : 1;
    return [sx, sy];
  }

  private toPoint(e: PointerEvent): Point | null {
    const rect = this.canvas.getBoundingClientRect();
    const [sx, sy] = this.scale(rect);
    const width = rect.width * sx;
    const height = rect.height * sy;
    const p: Point = {
      x: (e.clientX - rect.left) * sx,
      y: (e.clientY - rect.top) * sy,
      pressure: e.pressure,
      timestamp: eventTime(e),
    };
    // The stroke's pointer type decides which channels its points carry, so each channel
    // is on every point of a stroke or on none.
    const kind = this.active?.stroke.pointer_type ?? e.pointerType;
    if (kind === 'pen' && typeof e.tiltX === 'number') {
      p.tilt_x = e.tiltX;
      p.tilt_y = e.tiltY;
      p.twist = e.twist;
    }
    if ((kind === 'pen' || kind === 'touch') && typeof e.width === 'number') {
      p.width = e.width * sx;
      p.height = e.height * sy;
    }
    const margin = Math.max(width, height);
    const extras = [p.tilt_x, p.tilt_y, p.twist, p.width, p.height].filter((v) => v !== undefined);
    const finite = [p.x, p.y, p.pressure, p.timestamp, ...extras].every(Number.isFinite);
    const inside =
      p.x >= -margin && p.x <= width + margin && p.y >= -margin && p.y <= height + margin;
    if (!finite || !inside) {
      this.dropped += 1;
      return null;
    }
    return p;
  }

  private push(e: PointerEvent, onlyIfMoved = false): void {
    const a = this.active;
    if (!a) return;
    const p = this.toPoint(e);
    if (!p) return;
    const last = a.stroke.points[a.stroke.points.length - 1];
    // pointerup repeats the last position (a tap is one point); an identical repeat of a
    // sample (same place, time and pressure) adds nothing the hand did either.
    const samePlace = last !== undefined && last.x === p.x && last.y === p.y;
    if (samePlace && (onlyIfMoved || (last.timestamp === p.timestamp && last.pressure === p.pressure))) {
      return;
    }
    a.stroke.points.push(p);
    a.pressures.push(p.pressure);
    if (this.firstPointAt === null) this.firstPointAt = p.timestamp;
  }

  private down(e: PointerEvent): void {
    if (!this.enabled) return;
    if (this.active) {
      // A second finger or palm: ignored, the stroke in progress goes on.
      return;
    }
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    e.preventDefault();
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      // Synthetic events have no active pointer to capture; the stroke still records.
    }
    const stroke: Stroke = {
      points: [],
      color: this.opts.color,
      width: this.opts.width,
      pointer_type: e.pointerType || 'mouse',
      pressure_measured: false,
    };
    this.active = { id: e.pointerId, stroke, pressures: [] };
    this.strokes.push(stroke);
    this.push(e);
    this.opts.onChange?.(this);
  }

  private move(e: PointerEvent): void {
    const a = this.active;
    if (!a || e.pointerId !== a.id) return;
    e.preventDefault();
    const coalesced = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    if (coalesced.length > 0) {
      for (const c of coalesced) this.push(c);
    } else {
      this.push(e);
    }
    this.opts.onChange?.(this);
  }

  private up(e: PointerEvent): void {
    const a = this.active;
    if (!a || e.pointerId !== a.id) return;
    this.push(e, true);
    this.end(e);
  }

  private end(e: PointerEvent): void {
    const a = this.active;
    if (!a || e.pointerId !== a.id) return;
    this.active = null;
    a.stroke.pressure_measured = pressureMeasured(a.stroke.pointer_type, a.pressures);
    // A channel some samples lacked is dropped from the whole stroke: each is on every
    // point of a stroke or on none.
    for (const key of ['tilt_x', 'tilt_y', 'twist', 'width', 'height'] as const) {
      if (a.stroke.points.some((q) => q[key] === undefined)) {
        for (const q of a.stroke.points) delete q[key];
      }
    }
    if (a.stroke.points.length === 0) {
      // Every sample was dropped: nothing the hand did is left to keep.
      this.strokes.pop();
    }
    try {
      this.canvas.releasePointerCapture(e.pointerId);
    } catch {
      // Already released.
    }
    this.opts.onChange?.(this);
    this.opts.onStrokeEnd?.(this);
  }

  undo(): void {
    if (this.active) return;
    this.strokes.pop();
    this.opts.onChange?.(this);
  }

  clear(): void {
    this.active = null;
    this.strokes = [];
    this.dropped = 0;
    this.firstPointAt = null;
    this.opts.onChange?.(this);
  }

  /** The device class of the drawing: the first stroke's pointer type when it is one of
   *  the API's (`mouse`, `touch`, `pen`), else `mouse`. */
  device(): 'mouse' | 'touch' | 'pen' {
    const t = this.strokes[0]?.pointer_type;
    return t === 'pen' || t === 'touch' ? t : 'mouse';
  }
}
