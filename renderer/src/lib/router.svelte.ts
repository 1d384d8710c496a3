/** Hash routes (#/run/ID …): they work the same from app:// in Electron and from the loopback bridge. */
export const VIEWS = [
  'library',
  'new',
  'live',
  'run',
  'runs',
  'compare',
  'reports',
  'report',
  'inbox',
  'audit',
  'identities',
] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  view: View;
  id?: string;
  query: URLSearchParams;
}

function parse(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, q] = raw.split('?');
  const [view, id] = (pathPart ?? '').split('/');
  const v = (VIEWS as readonly string[]).includes(view ?? '') ? (view as View) : 'new';
  return { view: v, ...(id ? { id: decodeURIComponent(id) } : {}), query: new URLSearchParams(q ?? '') };
}

export const route = $state<{ current: Route }>({ current: parse() });
window.addEventListener('hashchange', () => (route.current = parse()));

export function go(path: string): void {
  location.hash = `#/${path}`;
}

/** Change the address without a new history entry or a re-render (e.g. a run id learnt while watching). */
export function replaceQuery(path: string): void {
  history.replaceState(history.state, '', `#/${path}`);
}

/** Move on without leaving this page in the history (a finished live run becomes its result). */
export function goReplace(path: string): void {
  location.replace(`#/${path}`);
}
