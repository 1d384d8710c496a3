/** Hash routes (#/run/ID …): they work the same from app:// in Electron and from the loopback bridge. */
export interface Route {
  view: 'library' | 'new' | 'live' | 'run' | 'runs' | 'compare' | 'reports' | 'report' | 'identities';
  id?: string;
  query: URLSearchParams;
}

function parse(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, q] = raw.split('?');
  const [view, id] = (pathPart ?? '').split('/');
  const views: Route['view'][] = [
    'library',
    'new',
    'live',
    'run',
    'runs',
    'compare',
    'reports',
    'report',
    'identities',
  ];
  const v = views.includes(view as Route['view']) ? (view as Route['view']) : 'new';
  return { view: v, ...(id ? { id: decodeURIComponent(id) } : {}), query: new URLSearchParams(q ?? '') };
}

export const route = $state<{ current: Route }>({ current: parse() });
window.addEventListener('hashchange', () => (route.current = parse()));

export function go(path: string): void {
  location.hash = `#/${path}`;
}
