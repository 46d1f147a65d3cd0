import { defineConfig } from 'vite';

// Tauri embeds dist/ (src-tauri/tauri.conf.json: build.frontendDist).
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    // WebKitGTK / WKWebView (Safari 15+), WebView2 and Android's Chromium webview.
    target: ['es2021', 'safari15'],
    outDir: 'dist',
    emptyOutDir: true,
  },
});
