import { unzipSync } from 'fflate';
import { InputError } from '../../core/errors.js';

/** A numeric array read from .npy / .npz / safetensors, as float64, C order. */
export interface NumericArray {
  shape: number[];
  data: Float64Array;
}

const DTYPES: Record<string, { size: number; read: (v: DataView, o: number, le: boolean) => number }> = {
  f8: { size: 8, read: (v, o, le) => v.getFloat64(o, le) },
  f4: { size: 4, read: (v, o, le) => v.getFloat32(o, le) },
  i8: { size: 8, read: (v, o, le) => Number(v.getBigInt64(o, le)) },
  i4: { size: 4, read: (v, o, le) => v.getInt32(o, le) },
  i2: { size: 2, read: (v, o, le) => v.getInt16(o, le) },
  i1: { size: 1, read: (v, o) => v.getInt8(o) },
  u8: { size: 8, read: (v, o, le) => Number(v.getBigUint64(o, le)) },
  u4: { size: 4, read: (v, o, le) => v.getUint32(o, le) },
  u2: { size: 2, read: (v, o, le) => v.getUint16(o, le) },
  u1: { size: 1, read: (v, o) => v.getUint8(o) },
  b1: { size: 1, read: (v, o) => v.getUint8(o) },
};

/** Parse a .npy file (format versions 1–3) as numpy.save writes it. */
export function parseNpy(bytes: Uint8Array, what = '.npy data'): NumericArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b))
    throw new InputError(`${what} is not a .npy array (no \\x93NUMPY header)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText)
    throw new InputError(`${what}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  const dtype = DTYPES[descr[2]!];
  if (!dtype)
    throw new InputError(`${what}: dtype ${descr[2]} is not supported; save float64, float32 or integer arrays`);
  const le = descr[1] !== '>';
  const shape = shapeText[1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (bytes.length < offset + count * dtype.size)
    throw new InputError(`${what}: the file is truncated (${count} values of ${dtype.size} bytes expected)`);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = dtype.read(view, offset + i * dtype.size, le);
  if (fortran[1] === 'True' && shape.length === 2) {
    const [r, c] = shape as [number, number];
    const t = new Float64Array(count);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[i * c + j] = data[j * r + i]!;
    return { shape, data: t };
  }
  return { shape, data };
}

/** Every array of a .npz (numpy.savez / savez_compressed), by name without ".npy". */
export function parseNpz(bytes: Uint8Array, what = '.npz file'): Map<string, NumericArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (err) {
    throw new InputError(`${what} is not a readable .npz (zip) archive: ${(err as Error).message}`);
  }
  const out = new Map<string, NumericArray>();
  for (const [name, content] of Object.entries(files)) {
    if (!name.endsWith('.npy')) continue;
    const key = name.slice(0, -4);
    out.set(key, parseNpy(content, `${what}: array ${key}`));
  }
  return out;
}

/** Every tensor of a .safetensors file. */
export function parseSafetensors(bytes: Uint8Array, what = '.safetensors file'): Map<string, NumericArray> {
  if (bytes.length < 8) throw new InputError(`${what} is too short to be safetensors`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.length) throw new InputError(`${what}: header length ${n} does not fit the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw new InputError(`${what}: the header is not JSON`);
  }
  const sizes: Record<string, string> = {
    F64: 'f8',
    F32: 'f4',
    I64: 'i8',
    I32: 'i4',
    I16: 'i2',
    I8: 'i1',
    U8: 'u1',
    BOOL: 'b1',
  };
  const out = new Map<string, NumericArray>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dt = DTYPES[sizes[t.dtype] ?? ''];
    if (!dt) throw new InputError(`${what}: tensor ${name} has dtype ${t.dtype}; use F64 or F32`);
    const [a, b] = t.data_offsets;
    const count = t.shape.reduce((x, y) => x * y, 1);
    if (b - a !== count * dt.size)
      throw new InputError(`${what}: tensor ${name}'s byte range does not match its shape`);
    const data = new Float64Array(count);
    for (let i = 0; i < count; i++) data[i] = dt.read(view, 8 + n + a + i * dt.size, true);
    out.set(name, { shape: t.shape, data });
  }
  return out;
}
