// Exposes the real capture module on a bare page so tests can drive it with synthesized
// Pointer Events in a real browser engine.
import { Capture } from '../src/capture';

const pad = document.getElementById('pad') as HTMLCanvasElement;
const capture = new Capture(pad);
(window as unknown as { capture: Capture }).capture = capture;
