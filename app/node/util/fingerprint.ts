/** How people read a key: the first 16 bytes of its id in groups of four hex digits. */
export function fingerprint(keyid: string): string {
  return keyid
    .slice(0, 32)
    .replace(/(.{4})(?=.)/g, '$1:')
    .toUpperCase();
}
