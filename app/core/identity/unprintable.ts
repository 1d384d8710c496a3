/**
 * Control characters and text-direction marks: in a name or note they would let the text move
 * the terminal's cursor or print as other text ("Eve" shown as "evE"). Tested by code point, so
 * the rule reads the same everywhere it is used.
 */
function unprintable(cp: number, allowLineBreaks: boolean): boolean {
  if (allowLineBreaks && (cp === 0x0a || cp === 0x0d || cp === 0x09)) return false;
  return (
    cp <= 0x1f ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0x061c ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069)
  );
}

export function hasUnprintable(s: string, allowLineBreaks = false): boolean {
  for (const ch of s) if (unprintable(ch.codePointAt(0)!, allowLineBreaks)) return true;
  return false;
}

/** The text with every unprintable character shown as U+FFFD. */
export function printable(s: string): string {
  let out = '';
  for (const ch of s) out += unprintable(ch.codePointAt(0)!, false) ? '\ufffd' : ch;
  return out;
}
