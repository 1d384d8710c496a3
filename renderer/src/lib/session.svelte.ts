import type { IdentityView } from '../../../app/core/api/contract';
import { api } from './api';

/**
 * Who "I" am in this window: the identity in use, shown as "Signed in as …", preselected in
 * signing dialogs and the inbox. Signing still asks for the passphrase each time; this only
 * says whose inbox to show. Remembered across reloads; the service is told on start.
 */
export const session = $state<{ identity: IdentityView | null; account: string; ready: boolean }>({
  identity: null,
  account: '',
  ready: false,
});

const KEY = 'gradproof-identity';

export async function restoreSession(): Promise<void> {
  const saved = localStorage.getItem(KEY);
  try {
    const r = saved
      ? await api.call('identities.use', { id: saved }).catch(() => api.call('identities.current', {}))
      : await api.call('identities.current', {});
    session.identity = r.identity;
    session.account = r.account;
  } finally {
    session.ready = true;
  }
}

export async function useIdentity(id: string | null): Promise<void> {
  const r = await api.call('identities.use', { id });
  session.identity = r.identity;
  session.account = r.account;
  if (id) localStorage.setItem(KEY, id);
  else localStorage.removeItem(KEY);
}
