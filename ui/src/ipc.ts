// Typed wrappers over the Rust commands of src-tauri (see src-tauri/src/commands.rs).

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { Stroke } from './capture';

export interface ShapeInfo {
  name: string;
  display_name: string;
  round_seconds: number;
  enabled: boolean;
}

export interface SyncStatus {
  pending: number;
  synced: number;
  rejected: number;
  online: boolean;
  syncing: boolean;
  last_error: string | null;
  retry_in_ms: number | null;
  failures: number;
}

export interface ModelSummary {
  version: number;
  classes: string[];
}

export interface Bootstrap {
  shapes: ShapeInfo[];
  rounds_per_game: number;
  onboarded: boolean;
  username: string | null;
  sync: SyncStatus;
  model: ModelSummary | null;
  server_url: string;
  recognized_at: number;
}

export interface LiveGuess {
  classes: { class: string; probability: number }[];
  prompted: number;
  recognized: boolean;
  verdict_allowed: boolean;
  model_version: number;
  latency_ms: number;
}

export interface Guess {
  recognized: boolean;
  confidence: number;
  top?: string;
  model_version: number;
}

/** A drawing in the API format (protocol/src/drawing.rs). */
export interface Drawing {
  id: string;
  shape: string;
  canvas: { width: number; height: number };
  strokes: Stroke[];
  duration_ms: number;
  device: 'mouse' | 'touch' | 'pen';
  user_agent: string;
  device_pixel_ratio: number;
  prompt_to_first_point_ms?: number;
  guess?: Guess;
  dropped_samples?: number;
}

export interface OutboxEntry {
  id: string;
  shape: string;
  state: 'pending' | 'synced' | 'rejected';
  attempts: number;
  last_error: string | null;
  queued_at: number;
  received_at: number | null;
}

export interface Achievement {
  id: string;
  title: string;
  description: string;
  progress: number;
  goal: number;
  unlocked: boolean;
}

export interface UserStats {
  per_shape: Record<string, number>;
  total: number;
  streak_days: number;
  longest_streak_days: number;
  days_active: number;
  today: string;
  username?: string;
  achievements: Achievement[];
}

export interface Progress {
  stats: UserStats | null;
  offline: boolean;
  on_device: Record<string, number>;
  pending: number;
}

/** The error every command answers with. */
export interface CommandError {
  code: string;
  message: string;
  field: string | null;
}

export function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e) {
    const ce = e as CommandError;
    return ce.field ? `${ce.field}: ${ce.message}` : ce.message;
  }
  return String(e);
}

export const api = {
  bootstrap: () => invoke<Bootstrap>('bootstrap'),
  refresh: () => invoke<Bootstrap>('refresh'),
  finishOnboarding: () => invoke<void>('finish_onboarding'),
  submit: (drawing: Drawing) => invoke<{ id: string; pending: number }>('submit_drawing', { drawing }),
  guess: (shape: string, strokes: Stroke[], finalRound: boolean) =>
    invoke<LiveGuess | null>('guess', { shape, strokes, finalRound }),
  drawingStates: (ids: string[]) => invoke<OutboxEntry[]>('drawing_states', { ids }),
  prompts: (count: number) => invoke<string[] | null>('prompts', { count }),
  syncNow: () => invoke<SyncStatus>('sync_now'),
  progress: () => invoke<Progress>('progress', { utcOffsetMin: -new Date().getTimezoneOffset() }),
  signUp: (username: string, password: string) => invoke<string>('sign_up', { username, password }),
  signIn: (username: string, password: string) => invoke<string>('sign_in', { username, password }),
  signOut: () => invoke<void>('sign_out'),
  onSync: (f: (s: SyncStatus) => void): Promise<UnlistenFn> =>
    listen<SyncStatus>('sync://status', (e) => f(e.payload)),
};
