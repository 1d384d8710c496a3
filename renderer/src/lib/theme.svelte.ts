/** The current theme, as reactive state: charts read it so they redraw in the new colours. */
export const theme = $state<{ current: string }>({ current: document.documentElement.dataset.theme ?? 'light' });

export function setTheme(next: 'light' | 'dark'): void {
  document.documentElement.dataset.theme = next;
  localStorage.setItem('gradproof-theme', next);
  theme.current = next;
}
