import type { ApiErrorBody, ApiEvent, Method, Params, Results } from '../../../app/core/api/contract';

/**
 * The renderer's only way to GradProof: the typed contract over whichever
 * transport it was loaded with. In Electron the preload exposes one function per
 * call on window.gradproof; in a browser the loopback bridge serves the same calls.
 */
export interface Transport {
  call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]>;
  onEvent(listener: (e: ApiEvent) => void): () => void;
}

export type PreloadApi = {
  [M in Method]: (params: Params<M>) => Promise<{ ok: true; result: Results[M] } | { ok: false; error: ApiErrorBody }>;
} & {
  onEvent: (listener: (e: ApiEvent) => void) => () => void;
};

declare global {
  interface Window {
    gradproof?: PreloadApi;
  }
}

export class ApiCallError extends Error {
  constructor(readonly body: ApiErrorBody) {
    super(body.error);
  }
}

/** An error as the person reads it: the API's own sentence, or what went wrong with the connection. */
export function errorText(e: unknown): string {
  if (e instanceof ApiCallError) return e.body.error;
  if (e instanceof TypeError)
    return 'GradProof is not answering: the app or `gradproof serve` may have stopped. Reload once it runs again.';
  return e instanceof Error ? e.message : String(e);
}

function electronTransport(api: PreloadApi): Transport {
  return {
    async call(method, params) {
      const r = await (api[method] as (p: unknown) => Promise<{ ok: boolean; result?: unknown; error?: ApiErrorBody }>)(
        params,
      );
      if (!r.ok) throw new ApiCallError(r.error!);
      return r.result as never;
    },
    onEvent: (listener) => api.onEvent(listener),
  };
}

function httpTransport(): Transport {
  const listeners = new Set<(e: ApiEvent) => void>();
  let source: EventSource | undefined;
  return {
    async call(method, params) {
      const res = await fetch(`./api/call/${encodeURIComponent(method)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(params ?? {}),
        credentials: 'same-origin',
      });
      const body = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}`, kind: 'internal' }))) as {
        result?: unknown;
      } & Partial<ApiErrorBody>;
      if (!res.ok)
        throw new ApiCallError({
          error: body.error ?? res.statusText,
          kind: body.kind ?? 'internal',
          ...(body.field ? { field: body.field } : {}),
        });
      return body.result as never;
    },
    onEvent(listener) {
      listeners.add(listener);
      if (!source) {
        source = new EventSource('./api/events', { withCredentials: true });
        source.onmessage = (m) => {
          const e = JSON.parse(m.data as string) as ApiEvent;
          for (const l of listeners) l(e);
        };
      }
      return () => listeners.delete(listener);
    },
  };
}

export const api: Transport = window.gradproof ? electronTransport(window.gradproof) : httpTransport();
export const inElectron = Boolean(window.gradproof);
