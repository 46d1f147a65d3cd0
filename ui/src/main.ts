// Inkset Draw: the game. Screens: first-run instructions, home (play, progress, account,
// sync status), rounds (prompt card, timer, canvas, live guess) and the end-of-game summary.

import './styles.css';
import { Capture, type Stroke } from './capture';
import { drawStrokes, drawThumbnail, fitBackingStore } from './ink';
import { shapeIcon } from './icons';
import {
  api,
  errorText,
  type Bootstrap,
  type Drawing,
  type LiveGuess,
  type OutboxEntry,
  type Progress,
  type ShapeInfo,
  type SyncStatus,
} from './ipc';

const app = document.getElementById('app') as HTMLElement;

/** Client time now, on the same clock as pointer event timestamps (ms since the epoch). */
const clientNow = () => Math.round(performance.timeOrigin + performance.now());

interface RoundResult {
  shape: ShapeInfo;
  drawing: Drawing | null;
  error: string | null;
  recognized: boolean;
}

interface Game {
  shapes: ShapeInfo[];
  index: number;
  results: RoundResult[];
}

let boot: Bootstrap;
let sync: SyncStatus | null = null;
let game: Game | null = null;
let cleanup: Array<() => void> = [];
let keyHandler: ((e: KeyboardEvent) => void) | null = null;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

function toast(text: string, kind: 'info' | 'ok' | 'error' = 'info'): void {
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  document.getElementById('toasts')?.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 6000 : 2500);
}

function leaveScreen(): void {
  for (const f of cleanup) f();
  cleanup = [];
  keyHandler = null;
}

document.addEventListener('keydown', (e) => keyHandler?.(e));

function syncText(s: SyncStatus | null): string {
  if (!s) return 'Sync: starting';
  if (s.syncing) return `Syncing ${s.pending}…`;
  if (s.pending === 0) return s.rejected > 0 ? `All synced (${s.rejected} refused)` : 'All synced';
  const retry = s.retry_in_ms != null ? `, retrying in ${Math.ceil(s.retry_in_ms / 1000)} s` : '';
  return `${s.pending} waiting to sync${s.online ? '' : ' (offline)'}${retry}`;
}

function renderSyncPill(): void {
  const pill = document.getElementById('sync-status');
  if (!pill) return;
  pill.textContent = syncText(sync);
  pill.dataset.pending = String(sync?.pending ?? '');
  pill.dataset.synced = String(sync?.synced ?? '');
  pill.dataset.online = String(sync?.online ?? false);
  pill.className = `pill ${sync && sync.pending === 0 ? 'ok' : sync?.online ? 'busy' : 'warn'}`;
  pill.title = sync?.last_error ?? '';
}

function header(): HTMLElement {
  const account = h(
    'button',
    { id: 'account-button', class: 'ghost', type: 'button' },
    boot.username ? `Signed in: ${boot.username}` : 'Sign in',
  );
  account.addEventListener('click', () => accountDialog());
  const pill = h('button', { id: 'sync-status', class: 'pill', type: 'button', title: '' });
  pill.addEventListener('click', async () => {
    toast('Syncing now…');
    sync = await api.syncNow();
    renderSyncPill();
    toast(sync.pending === 0 ? 'Everything is synced' : syncText(sync), sync.pending === 0 ? 'ok' : 'info');
  });
  const bar = h('header', { class: 'topbar' }, h('div', { class: 'brand' }, 'Inkset Draw'), pill, account);
  queueMicrotask(renderSyncPill);
  return bar;
}

// ---------------------------------------------------------------- first run

function onboarding(): void {
  const dialog = h(
    'div',
    { class: 'overlay', id: 'onboarding', role: 'dialog', 'aria-label': 'How to play' },
    h(
      'div',
      { class: 'card' },
      h('h2', {}, 'How to play'),
      h(
        'ol',
        {},
        h('li', {}, 'You are asked for a shape: a line, heart, circle, square or triangle.'),
        h('li', {}, 'Draw it with your mouse, finger or pen before the timer runs out.'),
        h('li', {}, 'The app guesses as you draw. Help it recognise your shape!'),
        h('li', {}, 'Every drawing is saved on this device first and synced when you are online.'),
      ),
      h(
        'p',
        { class: 'keys' },
        'Keys: Enter = done, Ctrl+Z = undo, Backspace = clear, Esc = leave the game.',
      ),
      h('button', { id: 'onboarding-done', class: 'primary', type: 'button' }, 'Got it'),
    ),
  );
  document.body.append(dialog);
  dialog.querySelector('button')?.addEventListener('click', async () => {
    await api.finishOnboarding();
    boot.onboarded = true;
    dialog.remove();
  });
}

// ---------------------------------------------------------------- home

async function home(): Promise<void> {
  leaveScreen();
  game = null;
  const play = h('button', { id: 'play', class: 'primary big', type: 'button' }, 'Play');
  play.addEventListener('click', () => void startGame());
  const progressBox = h('section', { id: 'progress', class: 'progress' }, h('p', { class: 'muted' }, 'Loading progress…'));
  const model = boot.model
    ? `Guesses by recognizer v${boot.model.version}, on this device`
    : 'No recognizer cached yet: the app guesses once it has downloaded one';
  app.replaceChildren(
    header(),
    h(
      'main',
      { class: 'home' },
      h('h1', {}, 'Draw what you are asked'),
      h('p', { class: 'muted' }, `${boot.rounds_per_game} rounds, one shape each. ${model}.`),
      play,
      progressBox,
    ),
  );
  keyHandler = (e) => {
    if (e.key === 'Enter' && !document.querySelector('.overlay')) void startGame();
  };
  if (!boot.onboarded && !document.getElementById('onboarding')) onboarding();
  try {
    renderProgress(progressBox, await api.progress());
  } catch (e) {
    progressBox.replaceChildren(h('p', { class: 'error' }, `Progress unavailable: ${errorText(e)}`));
  }
}

function renderProgress(box: HTMLElement, p: Progress): void {
  const s = p.stats;
  const counts: Record<string, number> = { ...(s?.per_shape ?? {}) };
  if (!s) for (const [k, v] of Object.entries(p.on_device)) counts[k] = v;
  const total = s?.total ?? Object.values(p.on_device).reduce((a, b) => a + b, 0);
  const streak = s?.streak_days ?? 0;
  const items = boot.shapes.map((shape) =>
    h(
      'li',
      { 'data-shape': shape.name },
      h('span', { class: 'icon' }),
      h('span', {}, shape.display_name),
      h('strong', {}, String(counts[shape.name] ?? 0)),
    ),
  );
  items.forEach((li, i) => {
    const icon = li.querySelector('.icon');
    if (icon) icon.innerHTML = shapeIcon(boot.shapes[i].name);
  });
  const achievements = (s?.achievements ?? []).map((a) =>
    h(
      'li',
      { class: a.unlocked ? 'unlocked' : '', 'data-achievement': a.id, title: a.description },
      h('span', { class: 'badge' }, a.unlocked ? '★' : '☆'),
      h('span', {}, a.title),
      h('small', {}, `${a.progress}/${a.goal}`),
    ),
  );
  box.replaceChildren(
    h(
      'div',
      { class: 'stats' },
      h('div', { class: 'stat', id: 'stat-total' }, h('strong', {}, String(total)), h('span', {}, 'drawings')),
      h('div', { class: 'stat', id: 'stat-streak' }, h('strong', {}, String(streak)), h('span', {}, streak === 1 ? 'day streak' : 'days streak')),
      h('div', { class: 'stat', id: 'stat-longest' }, h('strong', {}, String(s?.longest_streak_days ?? 0)), h('span', {}, 'best streak')),
    ),
    h('ul', { class: 'per-shape' }, ...items),
    achievements.length ? h('h3', {}, 'Achievements') : '',
    h('ul', { class: 'achievements' }, ...achievements),
    p.offline
      ? h('p', { class: 'muted', id: 'progress-offline' }, `Offline: showing the last progress known; ${p.pending} drawing(s) not synced yet.`)
      : '',
  );
}

// ---------------------------------------------------------------- account

function accountDialog(): void {
  if (boot.username) {
    const out = h('button', { id: 'sign-out', class: 'primary', type: 'button' }, 'Sign out');
    const close = h('button', { class: 'ghost', type: 'button' }, 'Close');
    const err = h('p', { class: 'error', role: 'alert' });
    const dialog = h('div', { class: 'overlay', role: 'dialog', 'aria-label': 'Account' },
      h('div', { class: 'card' }, h('h2', {}, boot.username), h('p', {}, 'Your progress follows you on every device you sign in on.'), err, out, close));
    close.addEventListener('click', () => dialog.remove());
    out.addEventListener('click', async () => {
      try {
        await api.signOut();
        boot.username = null;
        dialog.remove();
        toast('Signed out', 'ok');
        void home();
      } catch (e) {
        err.textContent = errorText(e);
      }
    });
    document.body.append(dialog);
    return;
  }
  let mode: 'in' | 'up' = 'in';
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: '' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: '' });
  const userErr = h('small', { class: 'error', id: 'username-error' });
  const passErr = h('small', { class: 'error', id: 'password-error' });
  const formErr = h('p', { class: 'error', role: 'alert', id: 'account-error' });
  const title = h('h2', {}, 'Sign in');
  const submit = h('button', { id: 'account-submit', class: 'primary', type: 'submit' }, 'Sign in');
  const toggle = h('button', { id: 'account-toggle', class: 'ghost', type: 'button' }, 'New here? Create an account');
  const close = h('button', { class: 'ghost', type: 'button' }, 'Cancel');
  const form = h(
    'form',
    { class: 'card' },
    title,
    h('label', { for: 'username' }, 'Username'),
    user,
    userErr,
    h('label', { for: 'password' }, 'Password'),
    pass,
    passErr,
    formErr,
    submit,
    toggle,
    close,
  );
  const dialog = h('div', { class: 'overlay', role: 'dialog', 'aria-label': 'Account' }, form);
  toggle.addEventListener('click', () => {
    mode = mode === 'in' ? 'up' : 'in';
    title.textContent = mode === 'in' ? 'Sign in' : 'Create an account';
    submit.textContent = mode === 'in' ? 'Sign in' : 'Sign up';
    toggle.textContent = mode === 'in' ? 'New here? Create an account' : 'Have an account? Sign in';
    pass.setAttribute('autocomplete', mode === 'in' ? 'current-password' : 'new-password');
  });
  close.addEventListener('click', () => dialog.remove());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    userErr.textContent = passErr.textContent = formErr.textContent = '';
    submit.setAttribute('disabled', '');
    try {
      const name = mode === 'in' ? await api.signIn(user.value, pass.value) : await api.signUp(user.value, pass.value);
      boot.username = name;
      dialog.remove();
      toast(mode === 'in' ? `Welcome back, ${name}` : `Account ${name} created`, 'ok');
      void home();
    } catch (err) {
      const ce = err as { field?: string | null; message?: string };
      if (ce.field === 'username') userErr.textContent = ce.message ?? '';
      else if (ce.field === 'password') passErr.textContent = ce.message ?? '';
      else formErr.textContent = errorText(err);
    } finally {
      submit.removeAttribute('disabled');
    }
  });
  document.body.append(dialog);
  user.focus();
}

// ---------------------------------------------------------------- game

function pickShapes(shapes: ShapeInfo[], n: number): ShapeInfo[] {
  // Every shape once per cycle, shuffled, never the same twice in a row.
  const out: ShapeInfo[] = [];
  while (out.length < n && shapes.length > 0) {
    const cycle = [...shapes].sort(() => Math.random() - 0.5);
    if (out.length && cycle.length > 1 && cycle[0].name === out[out.length - 1].name) cycle.push(cycle.shift() as ShapeInfo);
    out.push(...cycle);
  }
  return out.slice(0, n);
}

async function startGame(): Promise<void> {
  if (boot.shapes.length === 0) {
    toast('No shapes to draw yet: connect once to the server', 'error');
    return;
  }
  // The server chooses the prompts (more of the shapes its model needs); offline, the
  // game rotates through the cached shapes itself.
  let shapes: ShapeInfo[] | null = null;
  try {
    const names = await api.prompts(boot.rounds_per_game);
    if (names && names.length === boot.rounds_per_game) {
      const byName = new Map(boot.shapes.map((s) => [s.name, s] as const));
      const picked = names.map((n) => byName.get(n));
      if (picked.every((s) => s !== undefined)) shapes = picked as ShapeInfo[];
    }
  } catch {
    shapes = null;
  }
  game = { shapes: shapes ?? pickShapes(boot.shapes, boot.rounds_per_game), index: 0, results: [] };
  round();
}

function guessText(g: LiveGuess, prompt: ShapeInfo): string {
  const name = (c: string) => (c === 'unknown' ? 'something else' : boot.shapes.find((s) => s.name === c)?.display_name.toLowerCase() ?? c);
  const [a, b] = g.classes;
  if (g.recognized) return `Oh I know, it's a ${name(prompt.name)}!`;
  if (!a) return '…';
  return b && b.probability > 0.15 ? `I see ${name(a.class)}… or ${name(b.class)}?` : `I see ${name(a.class)}…`;
}

function round(): void {
  leaveScreen();
  const g = game;
  if (!g) return;
  const shape = g.shapes[g.index];
  const canvas = h('canvas', { id: 'canvas', 'aria-label': `Drawing canvas: draw a ${shape.display_name}` });
  const timerFill = h('div', { class: 'fill' });
  const timerText = h('span', { id: 'timer' }, `${shape.round_seconds} s`);
  const guessBox = h('p', { id: 'guess', class: 'guess', 'aria-live': 'polite' }, boot.model ? 'Start drawing!' : 'Start drawing! (no recognizer cached: no guesses)');
  const undo = h('button', { id: 'undo', type: 'button', title: 'Undo (Ctrl+Z)' }, 'Undo');
  const clear = h('button', { id: 'clear', type: 'button', title: 'Clear (Backspace)' }, 'Clear');
  const done = h('button', { id: 'done', class: 'primary', type: 'button', title: 'Done (Enter)' }, 'Done');
  const icon = h('span', { class: 'icon' });
  icon.innerHTML = shapeIcon(shape.name);
  const prompt = h(
    'div',
    { id: 'prompt', class: 'prompt', 'data-shape': shape.name },
    icon,
    h('div', {}, h('small', { id: 'round-counter' }, `Round ${g.index + 1} of ${g.shapes.length}`), h('strong', {}, `Draw a ${shape.display_name.toLowerCase()}`)),
  );
  app.replaceChildren(
    header(),
    h(
      'main',
      { class: 'round' },
      prompt,
      h('div', { class: 'timer', role: 'timer' }, timerFill, timerText),
      h('div', { class: 'board' }, canvas, guessBox),
      h('div', { class: 'toolbar' }, undo, clear, done),
    ),
  );

  const shownAt = clientNow();
  let finished = false;
  let recognizedPeak: number | null = null;
  let lastGuess: LiveGuess | null = null;
  let guessing = false;
  let lastGuessAt = 0;

  const redraw = () => {
    const ctx = fitBackingStore(canvas);
    if (!ctx) return;
    ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    drawStrokes(ctx, capture.strokes, { live: capture.drawing });
    undo.toggleAttribute('disabled', capture.strokes.length === 0);
    clear.toggleAttribute('disabled', capture.strokes.length === 0);
  };
  const requestGuess = async () => {
    if (!boot.model || guessing || finished || capture.strokes.length === 0) return;
    guessing = true;
    lastGuessAt = performance.now();
    try {
      const snapshot: Stroke[] = capture.strokes.map((s) => ({ ...s, points: [...s.points] }));
      const result = await api.guess(shape.name, snapshot, false);
      if (result && !finished) {
        lastGuess = result;
        guessBox.textContent = guessText(result, shape);
        guessBox.dataset.top = result.classes[0]?.class ?? '';
        if (result.recognized) {
          recognizedPeak = Math.max(recognizedPeak ?? 0, result.prompted);
          void finish('recognized');
        }
      }
    } catch (e) {
      guessBox.textContent = `Guessing unavailable: ${errorText(e)}`;
    } finally {
      guessing = false;
    }
  };
  const capture = new Capture(canvas, {
    onChange: () => {
      redraw();
      if (capture.drawing && performance.now() - lastGuessAt > 350) void requestGuess();
    },
    onStrokeEnd: () => void requestGuess(),
  });
  cleanup.push(() => capture.detach());
  const resize = () => redraw();
  window.addEventListener('resize', resize);
  cleanup.push(() => window.removeEventListener('resize', resize));
  redraw();

  const total = shape.round_seconds * 1000;
  const tick = setInterval(() => {
    const left = Math.max(0, total - (clientNow() - shownAt));
    timerFill.style.width = `${(100 * left) / total}%`;
    timerText.textContent = `${Math.ceil(left / 1000)} s`;
    timerText.parentElement?.classList.toggle('low', left < 5000);
    if (left === 0) void finish('time');
  }, 100);
  cleanup.push(() => clearInterval(tick));

  undo.addEventListener('click', () => {
    capture.undo();
    toast('Undone');
  });
  clear.addEventListener('click', () => {
    capture.clear();
    guessBox.textContent = 'Cleared. Draw again!';
  });
  done.addEventListener('click', () => void finish('done'));
  keyHandler = (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      void finish('done');
    } else if ((e.key === 'z' || e.key === 'Z') && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      capture.undo();
      toast('Undone');
    } else if (e.key === 'Backspace' || e.key === 'Delete') {
      e.preventDefault();
      capture.clear();
    } else if (e.key === 'Escape') {
      void home();
    }
  };

  async function finish(reason: 'recognized' | 'time' | 'done'): Promise<void> {
    if (finished || !game) return;
    finished = true;
    clearInterval(tick);
    capture.enabled = false;
    done.setAttribute('disabled', '');
    const strokes = capture.strokes.filter((s) => s.points.length > 0);
    const result: RoundResult = { shape, drawing: null, error: null, recognized: false };
    if (strokes.length === 0) {
      result.error = 'Nothing drawn';
      toast(reason === 'time' ? "Time's up: nothing drawn, skipped" : 'Nothing drawn, skipped');
    } else {
      let verdict: LiveGuess | null = lastGuess;
      if (boot.model) {
        try {
          verdict = (await api.guess(shape.name, strokes, true)) ?? lastGuess;
        } catch {
          verdict = lastGuess;
        }
      }
      const recognized = recognizedPeak !== null || (verdict?.recognized ?? false);
      const pts = strokes.flatMap((s) => s.points);
      const first = pts[0].timestamp;
      const last = pts[pts.length - 1].timestamp;
      const size = capture.size();
      const drawing: Drawing = {
        id: crypto.randomUUID(),
        shape: shape.name,
        canvas: { width: size.width, height: size.height },
        strokes,
        duration_ms: Math.max(0, last - first),
        device: capture.device(),
        user_agent: navigator.userAgent,
        device_pixel_ratio: window.devicePixelRatio || 1,
        prompt_to_first_point_ms: Math.max(0, (capture.firstPointAt ?? first) - shownAt),
        dropped_samples: capture.dropped,
      };
      if (verdict) {
        drawing.guess = {
          recognized,
          confidence: recognizedPeak ?? verdict.prompted,
          top: verdict.classes[0]?.class,
          model_version: verdict.model_version,
        };
      }
      result.drawing = drawing;
      result.recognized = recognized;
      try {
        const receipt = await api.submit(drawing);
        const message = recognized ? guessText({ ...(verdict as LiveGuess), recognized: true }, shape) : 'Saved';
        toast(`${message} (${receipt.pending} to sync)`, recognized ? 'ok' : 'info');
        guessBox.textContent = recognized ? message : "Saved. On to the next one!";
      } catch (e) {
        result.error = errorText(e);
        toast(`Not saved: ${result.error}`, 'error');
      }
    }
    game.results.push(result);
    setTimeout(() => {
      if (!game) return;
      game.index += 1;
      if (game.index < game.shapes.length) round();
      else void summary();
    }, reason === 'recognized' ? 1100 : 600);
  }
}

// ---------------------------------------------------------------- summary

async function summary(): Promise<void> {
  leaveScreen();
  const g = game;
  if (!g) return;
  const ids = g.results.flatMap((r) => (r.drawing ? [r.drawing.id] : []));
  const cards = g.results.map((r) => {
    const thumb = h('canvas', { class: 'thumb' });
    const state = h('small', { class: 'state' }, r.drawing ? 'saved' : 'skipped');
    const card = h(
      'li',
      { class: `summary-item ${r.recognized ? 'recognized' : ''}`, 'data-id': r.drawing?.id ?? '', 'data-shape': r.shape.name, 'data-state': r.drawing ? 'pending' : 'skipped' },
      thumb,
      h('strong', {}, r.shape.display_name),
      h('span', {}, r.drawing ? (r.recognized ? `Recognised (${Math.round((r.drawing.guess?.confidence ?? 0) * 100)} %)` : r.drawing.guess ? `Not recognised (${Math.round(r.drawing.guess.confidence * 100)} %)` : 'No guess') : r.error ?? ''),
      state,
    );
    requestAnimationFrame(() => drawThumbnail(thumb, r.drawing?.strokes ?? []));
    return { card, state, id: r.drawing?.id };
  });
  const recognized = g.results.filter((r) => r.recognized).length;
  const guessed = g.results.some((r) => r.drawing?.guess);
  const saved = g.results.filter((r) => r.drawing && !r.error).length;
  const again = h('button', { id: 'play-again', class: 'primary', type: 'button' }, 'Play again');
  const back = h('button', { id: 'home', type: 'button' }, 'Home');
  again.addEventListener('click', () => void startGame());
  back.addEventListener('click', () => void home());
  app.replaceChildren(
    header(),
    h(
      'main',
      { class: 'summary', id: 'summary' },
      h('h1', {}, guessed ? `Recognised ${recognized} of ${g.results.length}` : `${saved} of ${g.results.length} drawings saved`),
      h('ul', { class: 'summary-grid' }, ...cards.map((c) => c.card)),
      h('div', { class: 'toolbar' }, back, again),
    ),
  );
  keyHandler = (e) => {
    if (e.key === 'Enter') void startGame();
    else if (e.key === 'Escape') void home();
  };
  const refresh = async () => {
    if (ids.length === 0) return;
    let rows: OutboxEntry[] = [];
    try {
      rows = await api.drawingStates(ids);
    } catch {
      return;
    }
    for (const c of cards) {
      const row = rows.find((r) => r.id === c.id);
      if (!row) continue;
      c.card.dataset.state = row.state;
      c.state.textContent = row.state === 'synced' ? 'synced ✓' : row.state === 'rejected' ? `refused: ${row.last_error ?? ''}` : 'waiting to sync';
    }
  };
  await refresh();
  const poll = setInterval(() => void refresh(), 1000);
  cleanup.push(() => clearInterval(poll));
}

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  app.append(h('p', { class: 'muted' }, 'Starting…'));
  boot = await api.bootstrap();
  sync = boot.sync;
  await api.onSync((s) => {
    sync = s;
    renderSyncPill();
  });
  await home();
  // The cache refresh (shapes, recognizer) may finish after start: pick it up.
  try {
    const fresh = await api.refresh();
    const hadModel = boot.model?.version;
    boot = { ...fresh, onboarded: boot.onboarded, username: boot.username ?? fresh.username };
    if (!game && fresh.model?.version !== hadModel) await home();
  } catch {
    // Offline: cached shapes and model stay in use.
  }
}

start().catch((e) => {
  app.replaceChildren(h('p', { class: 'error' }, `Inkset Draw could not start: ${errorText(e)}`));
});
