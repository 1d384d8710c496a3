import { Inflate } from 'fflate';
import { InputError } from '../../core/errors.js';

/**
 * Reading a .npz (a zip of .npy files) within a memory bound: the sizes an archive declares
 * are added up and refused above the limit before anything is inflated, and each entry is
 * inflated in small steps that stop the moment it outgrows what it declared (an archive can
 * declare 1 KB and inflate to 1.5 GB). fflate's own unzipSync trusts the declared sizes.
 */

export interface ZipLimits {
  /** Largest total uncompressed size accepted. */
  maxBytes: number;
  /** Most entries accepted. */
  maxEntries: number;
}

/** 1 GiB uncompressed: a dataset or weights beyond that do not fit a gradient check in memory anyway. */
export const NPZ_LIMITS: ZipLimits = { maxBytes: 2 ** 30, maxEntries: 4096 };

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  return t;
})();

function crc32(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

interface Entry {
  name: string;
  method: number;
  crc: number;
  compressed: number;
  size: number;
  local: number;
}

/** The archive's entries as its central directory lists them, every offset checked against the file. */
function entries(bytes: Uint8Array, what: string, limits: ZipLimits): Entry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): InputError =>
    new InputError(`${what} is not a readable .npz (zip) archive: ${why}; save it again with numpy.savez`);
  const u16 = (o: number): number => {
    if (o < 0 || o + 2 > bytes.length) throw bad('it is truncated');
    return view.getUint16(o, true);
  };
  const u32 = (o: number): number => {
    if (o < 0 || o + 4 > bytes.length) throw bad('it is truncated');
    return view.getUint32(o, true);
  };
  const u64 = (o: number): number => {
    if (o < 0 || o + 8 > bytes.length) throw bad('it is truncated');
    const v = view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('it declares an impossible size or offset');
    return Number(v);
  };
  if (bytes.length < 22) throw bad('it is too short');
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 65535); o--) {
    if (view.getUint32(o, true) === 0x06054b50) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-archive record');
  let count = u16(eocd + 10);
  let offset = u32(eocd + 16);
  if ((count === 0xffff || offset === 0xffffffff) && eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const z = u64(eocd - 12);
    if (u32(z) !== 0x06064b50) throw bad('a broken zip64 record');
    count = u64(z + 32);
    offset = u64(z + 48);
  }
  if (count > limits.maxEntries)
    throw new InputError(`${what}: the archive lists ${count} entries; GradProof reads up to ${limits.maxEntries}`);
  const out: Entry[] = [];
  let o = offset;
  for (let i = 0; i < count; i++) {
    if (u32(o) !== 0x02014b50) throw bad('a broken central directory');
    const flags = u16(o + 8);
    const method = u16(o + 10);
    const crc = u32(o + 16);
    let compressed = u32(o + 20);
    let size = u32(o + 24);
    const nlen = u16(o + 28);
    const elen = u16(o + 30);
    const clen = u16(o + 32);
    let local = u32(o + 42);
    if (o + 46 + nlen > bytes.length) throw bad('it is truncated');
    const name = new TextDecoder().decode(bytes.subarray(o + 46, o + 46 + nlen));
    // zip64: the sizes and offset that do not fit 32 bits are in extra field 0x0001, in this order.
    let e = o + 46 + nlen;
    const end = e + elen;
    while (e + 4 <= end) {
      const id = u16(e);
      const len = u16(e + 2);
      if (id === 0x0001) {
        let f = e + 4;
        if (size === 0xffffffff) {
          size = u64(f);
          f += 8;
        }
        if (compressed === 0xffffffff) {
          compressed = u64(f);
          f += 8;
        }
        if (local === 0xffffffff) local = u64(f);
      }
      e += 4 + len;
    }
    if (flags & 1)
      throw new InputError(
        `${what}: entry ${JSON.stringify(name.slice(0, 60))} is encrypted; save it without a password`,
      );
    if (method !== 0 && method !== 8)
      throw new InputError(
        `${what}: entry ${JSON.stringify(name.slice(0, 60))} uses compression method ${method}; numpy.savez and savez_compressed write 0 or 8`,
      );
    out.push({ name, method, crc, compressed, size, local });
    o = end + clen;
  }
  return out;
}

/** Every entry of a zip archive, within `limits`. */
export function readZip(bytes: Uint8Array, what: string, limits: ZipLimits = NPZ_LIMITS): Map<string, Uint8Array> {
  const list = entries(bytes, what, limits);
  const total = list.reduce((s, e) => s + e.size, 0);
  if (total > limits.maxBytes)
    throw new InputError(
      `${what}: the archive holds ${formatBytes(total)} uncompressed (${formatBytes(bytes.length)} on disk); GradProof reads .npz archives up to ${formatBytes(limits.maxBytes)} uncompressed: use a smaller dataset or weights file`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const files = new Map<string, Uint8Array>();
  for (const e of list) {
    const label = `${what}: entry ${JSON.stringify(e.name.slice(0, 60))}`;
    if (e.local + 30 > bytes.length || view.getUint32(e.local, true) !== 0x04034b50)
      throw new InputError(`${label} points outside the archive: the file is damaged`);
    const start = e.local + 30 + view.getUint16(e.local + 26, true) + view.getUint16(e.local + 28, true);
    if (start + e.compressed > bytes.length) throw new InputError(`${label} is truncated: the file is damaged`);
    const data = bytes.subarray(start, start + e.compressed);
    let content: Uint8Array;
    if (e.method === 0) {
      if (e.compressed !== e.size) throw new InputError(`${label} declares two different sizes: the file is damaged`);
      content = data;
    } else {
      content = new Uint8Array(e.size);
      let at = 0;
      const inflate = new Inflate((chunk) => {
        if (at + chunk.length > e.size)
          throw new InputError(
            `${label} inflates beyond the ${formatBytes(e.size)} it declares: the archive is damaged or a decompression bomb; it was not read`,
          );
        content.set(chunk, at);
        at += chunk.length;
      });
      const STEP = 16 * 1024;
      try {
        for (let i = 0; i < data.length; i += STEP)
          inflate.push(data.subarray(i, Math.min(i + STEP, data.length)), i + STEP >= data.length);
        if (data.length === 0) inflate.push(new Uint8Array(0), true);
      } catch (err) {
        if (err instanceof InputError) throw err;
        throw new InputError(`${label} cannot be inflated (its compressed data is damaged)`);
      }
      if (at !== e.size)
        throw new InputError(`${label} inflates to ${at} bytes, not the ${e.size} it declares: the file is damaged`);
    }
    if (crc32(content) !== e.crc) throw new InputError(`${label} fails its CRC-32 check: the file is damaged`);
    files.set(e.name, content);
  }
  return files;
}
