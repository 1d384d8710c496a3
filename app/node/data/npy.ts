import { InputError } from '../../core/errors.js';
import { shown } from './file-input.js';
import { NPZ_LIMITS, type ZipLimits, readZip } from './zip.js';

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

/**
 * The number of values a shape holds, or an error naming the dimension that is not a
 * count. Each dimension must be a whole number ≥ 0; the product must fit in `available`
 * values (what the file actually holds), so nothing is allocated for a shape the file lies about.
 */
function valueCount(shape: readonly unknown[], what: string, field: string): number {
  let count = 1;
  for (const [i, d] of shape.entries()) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw new InputError(
        `${what}: ${field} dimension ${i} is ${typeof d === 'number' ? String(d) : 'not a number'}; every dimension must be a whole number of at least 0`,
      );
    count *= d;
    if (count > Number.MAX_SAFE_INTEGER)
      throw new InputError(`${what}: ${field} holds more values than can be counted`);
  }
  return count;
}

/** Parse a .npy file (format versions 1–3) as numpy.save writes it. */
export function parseNpy(bytes: Uint8Array, what = '.npy data'): NumericArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b))
    throw new InputError(`${what} is not a .npy array (no \\x93NUMPY header); save it with numpy.save`);
  const major = bytes[6]!;
  if (major < 1 || major > 3)
    throw new InputError(`${what}: .npy format version ${major} is not supported (1 to 3 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new InputError(`${what}: the .npy header runs past the end of the file`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (/'descr'\s*:\s*\[/.test(header))
    throw new InputError(`${what}: structured arrays (named fields) are not supported; save a plain numeric array`);
  if (!descr || !fortran || !shapeText)
    throw new InputError(
      `${what}: the .npy header lacks a readable 'descr', 'fortran_order' or 'shape'; save the array with numpy.save`,
    );
  const dtype = DTYPES[descr[2]!];
  if (!dtype)
    throw new InputError(`${what}: dtype ${descr[2]} is not supported; save float64, float32 or integer arrays`);
  const le = descr[1] !== '>';
  const parts = shapeText[1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const shape = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p === '' ? NaN : Number(p)));
  const count = valueCount(shape, what, 'the shape');
  const offset = start + headerLen;
  const available = Math.floor((bytes.length - offset) / dtype.size);
  if (count > available)
    throw new InputError(
      `${what}: the shape (${shape.join(', ')}) needs ${count} values but the file holds ${available}: it is truncated or its header is wrong`,
    );
  if (fortran[1] === 'True' && shape.length > 2)
    throw new InputError(
      `${what}: Fortran-ordered arrays of more than 2 dimensions are not supported; save it in C order`,
    );
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

/** Every array of a .npz (numpy.savez / savez_compressed), by name without ".npy", within bounded memory. */
export function parseNpz(
  bytes: Uint8Array,
  what = '.npz file',
  limits: ZipLimits = NPZ_LIMITS,
): Map<string, NumericArray> {
  const files = readZip(bytes, what, limits);
  const out = new Map<string, NumericArray>();
  for (const [name, content] of files) {
    if (!name.endsWith('.npy')) continue;
    const key = name.slice(0, -4);
    out.set(key, parseNpy(content, `${what}: array ${shown(key)}`));
  }
  return out;
}

/** Largest safetensors header the format allows (its own limit): 100 MB. */
const MAX_SAFETENSORS_HEADER = 100_000_000;

/** Every tensor of a .safetensors file; offsets checked to lie in the data, in order, without overlap. */
export function parseSafetensors(bytes: Uint8Array, what = '.safetensors file'): Map<string, NumericArray> {
  if (bytes.length < 8) throw new InputError(`${what} is too short to be safetensors`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const big = view.getBigUint64(0, true);
  if (big === 0n || big > BigInt(MAX_SAFETENSORS_HEADER) || 8 + Number(big) > bytes.length)
    throw new InputError(`${what}: its header length does not fit the file; save it again with safetensors`);
  const n = Number(big);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw new InputError(`${what}: the header is not JSON; save it again with safetensors`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    throw new InputError(`${what}: the header is not a JSON object of tensors`);
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
  const dataLength = bytes.length - 8 - n;
  const ranges: { name: string; a: number; b: number }[] = [];
  const out = new Map<string, NumericArray>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const label = `${what}: tensor ${shown(name)}`;
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!t || typeof t !== 'object') throw new InputError(`${label} is not described by an object`);
    const dt = DTYPES[sizes[String(t.dtype)] ?? ''];
    if (!dt) throw new InputError(`${label} has dtype ${shown(String(t.dtype))}; use F64 or F32 (or an integer type)`);
    if (!Array.isArray(t.shape)) throw new InputError(`${label}: shape must be a list of dimensions`);
    const count = valueCount(t.shape, label, 'shape');
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2) throw new InputError(`${label}: data_offsets must be [begin, end]`);
    const [a, b] = off as unknown[];
    if (
      typeof a !== 'number' ||
      typeof b !== 'number' ||
      !Number.isSafeInteger(a) ||
      !Number.isSafeInteger(b) ||
      a < 0 ||
      b < a ||
      b > dataLength
    )
      throw new InputError(
        `${label}: data_offsets [${String(a)}, ${String(b)}] do not lie within the ${dataLength} data bytes after the header; the file is damaged`,
      );
    if (b - a !== count * dt.size)
      throw new InputError(
        `${label}: its byte range holds ${b - a} bytes but shape (${(t.shape as number[]).join(', ')}) of ${String(t.dtype)} needs ${count * dt.size}`,
      );
    ranges.push({ name, a, b });
    const data = new Float64Array(count);
    for (let i = 0; i < count; i++) data[i] = dt.read(view, 8 + n + a + i * dt.size, true);
    out.set(name, { shape: t.shape as number[], data });
  }
  ranges.sort((x, y) => x.a - y.a || x.b - y.b);
  for (let i = 1; i < ranges.length; i++)
    if (ranges[i]!.a < ranges[i - 1]!.b)
      throw new InputError(
        `${what}: tensors ${shown(ranges[i - 1]!.name)} and ${shown(ranges[i]!.name)} share bytes (overlapping data_offsets); the file is damaged`,
      );
  return out;
}
