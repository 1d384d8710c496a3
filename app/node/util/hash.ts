import { createHash } from 'node:crypto';

/** SHA-256 of bytes (or a UTF-8 string), lowercase hex: every digest GradProof records. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
