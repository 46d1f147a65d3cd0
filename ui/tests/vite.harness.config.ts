import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// The capture harness (tests/harness.html): the real capture module on a bare page, built
// for the Chromium capture tests only, never shipped.
const here = fileURLToPath(new URL('.', import.meta.url));
export default defineConfig({
  root: here,
  logLevel: 'warn',
  build: {
    outDir: '.harness-dist',
    emptyOutDir: true,
    target: 'es2021',
    rollupOptions: { input: { harness: `${here}harness.html` } },
  },
});
