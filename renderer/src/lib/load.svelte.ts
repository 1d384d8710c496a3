import { errorText } from './api';

/**
 * Data a view shows, fetched when the view opens and again whenever what the fetch reads
 * changes (a prop, a filter): the one place views fetch from, with its error and a reload.
 * Answers that arrive after a newer request started are dropped, so a fast click never shows
 * a stale page. Call during a component's setup.
 */
export class Load<T> {
  value = $state<T | undefined>();
  error = $state('');
  loading = $state(true);
  #seq = 0;

  constructor(private readonly fetcher: () => Promise<T>) {
    $effect(() => {
      this.#start(fetcher());
    });
  }

  /** Fetch again (after an action changed what the view shows). */
  reload(): Promise<void> {
    return this.#start(this.fetcher());
  }

  async #start(p: Promise<T>): Promise<void> {
    const seq = ++this.#seq;
    this.loading = true;
    try {
      const v = await p;
      if (seq !== this.#seq) return;
      this.value = v;
      this.error = '';
    } catch (e) {
      if (seq !== this.#seq) return;
      this.error = errorText(e);
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }
}

export function load<T>(fetcher: () => Promise<T>): Load<T> {
  return new Load(fetcher);
}
