import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { constants, deflateRawSync } from 'node:zlib';

/** A .npy header for float64 data of this shape (numpy's layout, padded to 64 bytes). */
export function npyHeader(shape: string): Buffer {
  let d = `{'descr': '<f8', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + d.length + 1;
  d += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
  h.writeUInt16LE(d.length, 8);
  return Buffer.concat([h, Buffer.from(d, 'latin1')]);
}

/**
 * A zip bomb shaped like numpy.savez_compressed: array X.npy whose deflate stream inflates to
 * `inflated` bytes of zeros while the file stays small (1 MiB of zeros deflates to ~1 KB, and
 * full-flush blocks can be repeated). `declared` is the size its headers claim: the truth, or a lie.
 */
export function writeZipBomb(file: string, inflated: number, declared: number): void {
  const MiB = 1 << 20;
  const header = npyHeader(`(${Math.floor((inflated - 128) / 8)},)`);
  const block = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_FULL_FLUSH });
  const parts = [deflateRawSync(header, { finishFlush: constants.Z_FULL_FLUSH })];
  for (let n = header.length; n < inflated; n += MiB) parts.push(block);
  parts.push(deflateRawSync(Buffer.alloc(0)));
  const data = Buffer.concat(parts);
  const name = Buffer.from('X.npy');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(0, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(declared, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(0, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(declared, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = local.length + name.length + data.length;
  const cd = Buffer.concat([central, name]);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, Buffer.concat([local, name, data, cd, end]));
}

/** A .safetensors file with the given header (as JSON) and data bytes. */
export function writeSafetensors(file: string, header: unknown, data: Buffer): void {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(file, Buffer.concat([len, h, data]));
}

export function writeNpy(file: string, shape: string, values: number[]): void {
  const data = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => data.writeDoubleLE(v, i * 8));
  writeFileSync(file, Buffer.concat([npyHeader(shape), data]));
}
