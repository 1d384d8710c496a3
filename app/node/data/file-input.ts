import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { printable } from '../../core/identity/unprintable.js';
import { formatBytes } from './zip.js';
import { InputError } from '../../core/errors.js';

/**
 * Reading a file the user named, for any purpose: only a regular file, only up to a size
 * fixed in advance, and errors that name the file and what is wrong without ever repeating
 * what is in it (a path to /etc/passwd given as a model must not print its first line).
 */

/** Sizes read at most: JSON and CSV are parsed into objects many times their size. */
export const MAX_TEXT_BYTES = 256 * 2 ** 20;
export const MAX_BINARY_BYTES = 2 ** 30;

export function readInputFile(file: string, what: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    // Non-blocking: opening a named pipe would otherwise wait for a writer for ever.
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a folder'
            : (code ?? 'cannot open it');
    throw new InputError(`${what} ${file}: cannot read it (${why})`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new InputError(`${what} ${file}: it is a folder; give a file`);
    if (!st.isFile()) throw new InputError(`${what} ${file}: not a regular file (a device or a pipe); give a file`);
    if (st.size > maxBytes)
      throw new InputError(
        `${what} ${file}: the file is ${formatBytes(st.size)}; GradProof reads files of this kind up to ${formatBytes(maxBytes)}`,
      );
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < st.size) {
      const got = readSync(fd, buf, n, st.size - n, n);
      if (got === 0) break;
      n += got;
    }
    return n === st.size ? buf : buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Where JSON.parse stopped, as line and column, without the text around it. */
export function jsonSyntaxProblem(text: string, err: unknown): string {
  const m = /position (\d+)/.exec((err as Error)?.message ?? '');
  if (!m) return text.trim() === '' ? 'the file is empty' : 'not valid JSON';
  const pos = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `not valid JSON (the first error is at line ${line}, column ${column})`;
}

/** JSON from a file, or an InputError naming the file and where the syntax breaks. */
export function parseJsonText(bytes: Uint8Array, file: string, what: string): unknown {
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InputError(`${what} ${file}: ${jsonSyntaxProblem(text, err)}; give a JSON file`);
  }
}

export function readJsonFile(file: string, what: string, maxBytes = MAX_TEXT_BYTES): unknown {
  return parseJsonText(readInputFile(file, what, maxBytes), file, what);
}

/** What kind of value a field holds, for messages that must not repeat the value itself. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'a number' : 'infinite';
  if (typeof v === 'string') return 'text';
  if (typeof v === 'boolean') return 'true or false';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** A name taken from a file (a column, a tensor), short and printable, without quotes. */
export function short(name: string): string {
  const p = printable(name);
  return p.length > 60 ? `${p.slice(0, 57)}…` : p;
}

/** A name taken from a file, as is when it reads as an identifier, else quoted. */
export function shown(name: string): string {
  return /^[A-Za-z0-9_.:/-]{1,60}$/.test(name) ? name : JSON.stringify(short(name));
}
