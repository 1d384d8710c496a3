/** GradProof's own pages are served from this origin (a privileged custom protocol, not file://). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'gradproof';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/** True for a URL of GradProof's own origin; anything unparsable, another scheme or another host is not. */
export function isAppUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host.toLowerCase() === APP_HOST;
  } catch {
    return false;
  }
}
