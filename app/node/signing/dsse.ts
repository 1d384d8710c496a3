import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** in-toto statements travel in DSSE envelopes with this payload type. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseEnvelope {
  payloadType: string;
  /** base64 of the exact signed bytes */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** DSSE's pre-authentication encoding: what is actually signed. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    Buffer.from(payload),
  ]);
}

export function signEnvelope(
  payload: Uint8Array,
  privateKey: KeyObject,
  keyid: string,
  payloadType = IN_TOTO_PAYLOAD_TYPE,
): DsseEnvelope {
  const sig = sign(null, pae(payloadType, payload), privateKey);
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: [{ keyid, sig: sig.toString('base64') }],
  };
}

/** True when `envelope` carries a valid Ed25519 signature by `publicKeyPem` (key id checked too). */
export function verifyEnvelope(envelope: DsseEnvelope, publicKeyPem: string, keyid: string): boolean {
  const s = envelope.signatures.find((x) => x.keyid === keyid);
  if (!s) return false;
  const key = createPublicKey(publicKeyPem);
  if (keyIdOf(key) !== keyid) return false;
  try {
    return verify(
      null,
      pae(envelope.payloadType, Buffer.from(envelope.payload, 'base64')),
      key,
      Buffer.from(s.sig, 'base64'),
    );
  } catch {
    return false;
  }
}

/** Key id: SHA-256 of the raw 32-byte Ed25519 public key, hex. */
export function keyIdOf(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return createHash('sha256').update(Buffer.from(jwk.x!, 'base64url')).digest('hex');
}

export { fingerprint } from '../util/fingerprint.js';
