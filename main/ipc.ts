import { type ApiErrorBody, isMethod, toApiErrorBody } from '../app/core/api/contract.js';
import { isAppUrl } from './app-origin.js';

/** Only a frame showing GradProof's own pages may call the API. */
export function isTrustedSender(url: string | undefined): boolean {
  return isAppUrl(url);
}

export interface SenderEvent {
  senderFrame?: { url: string } | null;
}

export type IpcReply = { ok: true; result: unknown } | { ok: false; error: ApiErrorBody };

/**
 * The IPC handler for every channel, kept free of Electron so it can be tested:
 * it refuses any sender that is not GradProof's own window, any unknown
 * channel, and (through the service) any params the contract rejects.
 */
export function createIpcHandler(
  service: { call: (method: never, params: unknown) => Promise<unknown> },
  trusted: (url: string | undefined) => boolean = isTrustedSender,
) {
  return async (method: string, event: SenderEvent, params: unknown): Promise<IpcReply> => {
    if (!trusted(event.senderFrame?.url)) {
      return {
        ok: false,
        error: { error: "refused: the request did not come from GradProof's own window", kind: 'invalid' },
      };
    }
    if (!isMethod(method)) return { ok: false, error: { error: `unknown method ${method}`, kind: 'invalid' } };
    try {
      return { ok: true, result: await service.call(method as never, params) };
    } catch (err) {
      return { ok: false, error: toApiErrorBody(err) };
    }
  };
}
