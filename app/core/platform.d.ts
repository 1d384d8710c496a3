// The few platform globals app/core relies on. They exist in Node, browsers and
// Electron alike (WHATWG Encoding), but are not in the ES library typings that
// app/core is confined to.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string);
  decode(input?: Uint8Array): string;
}
