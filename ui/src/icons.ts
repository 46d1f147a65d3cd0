// Prompt-card icons: one simple SVG per shape (unknown shapes get a dashed frame).

const paths: Record<string, string> = {
  line: '<line x1="14" y1="50" x2="50" y2="14"/>',
  circle: '<circle cx="32" cy="32" r="20"/>',
  square: '<rect x="13" y="13" width="38" height="38" rx="2"/>',
  triangle: '<path d="M32 11 L54 51 H10 Z"/>',
  heart: '<path d="M32 52 C 8 36, 10 14, 24 14 C 29 14, 32 18, 32 22 C 32 18, 35 14, 40 14 C 54 14, 56 36, 32 52 Z"/>',
};

export function shapeIcon(name: string): string {
  const body = paths[name] ?? '<rect x="12" y="12" width="40" height="40" stroke-dasharray="6 5"/>';
  return `<svg viewBox="0 0 64 64" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="5" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;
}
