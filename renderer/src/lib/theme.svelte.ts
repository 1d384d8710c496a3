/**
 * The theme in use, as reactive state: the saved choice, else the operating system's. Read at
 * module load (before any view), so the toggle names the other theme from the first paint.
 */
function initial(): 'light' | 'dark' {
  const saved = localStorage.getItem('gradproof-theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export const theme = $state<{ current: 'light' | 'dark' }>({ current: initial() });
document.documentElement.dataset.theme = theme.current;

export function setTheme(next: 'light' | 'dark'): void {
  document.documentElement.dataset.theme = next;
  localStorage.setItem('gradproof-theme', next);
  theme.current = next;
}
