/**
 * Worker thread hosting a JS/TS module subject. The module exports
 *   parameters                      θ₀ as { W1: number[][], b1: number[][], … } (or a function returning it)
 *   forward(parameters, data)       the cost, or { cost, cache }
 *   backward(parameters, data, cache)  gradients { dW1, db1, … } (or { W1, b1, … })
 * and is called exactly as written; this host only flattens and unflattens.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

interface Group {
  name: string;
  shape: [number, number];
}

type Params = Record<string, number[][]>;

const { modulePath, data } = workerData as { modulePath: string; data?: { X: number[][]; Y: number[][] } };

function order(names: string[]): string[] {
  const key = (n: string, i: number): [number, number, number] => {
    const m = /^([Wb])(\d+)$/.exec(n);
    return m ? [Number(m[2]), m[1] === 'W' ? 0 : 1, i] : [1e9, 0, i];
  };
  return names
    .map((n, i) => ({ n, k: key(n, i) }))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2])
    .map((x) => x.n);
}

function shapeOf(name: string, v: unknown): [number, number] {
  if (typeof v === 'number') return [1, 1];
  if (!Array.isArray(v) || v.length === 0)
    throw new Error(`parameters.${name} must be a non-empty array (rows of numbers)`);
  if (typeof v[0] === 'number') return [v.length, 1];
  const cols = (v[0] as unknown[]).length;
  (v as unknown[][]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== cols)
      throw new Error(`parameters.${name}[${i}] must have ${cols} numbers like row 0`);
  });
  return [v.length, cols];
}

function flattenValue(name: string, v: unknown, into: number[]): void {
  if (typeof v === 'number') into.push(v);
  else if (Array.isArray(v)) for (const x of v) flattenValue(name, x, into);
  else if (ArrayBuffer.isView(v)) into.push(...(v as unknown as ArrayLike<number> as unknown as number[]));
  else throw new Error(`${name} holds ${typeof v}, not numbers`);
}

async function main(): Promise<void> {
  // TypeScript is loaded through tsx, wherever the file lives and whatever its package says.
  const mod = (
    /\.(c|m)?ts$/.test(modulePath)
      ? await ((await import('tsx/esm/api')) as { tsImport: (p: string, parent: string) => Promise<unknown> }).tsImport(
          pathToFileURL(modulePath).href,
          import.meta.url,
        )
      : await import(pathToFileURL(modulePath).href)
  ) as Record<string, unknown>;
  for (const name of ['forward', 'backward']) {
    if (typeof mod[name] !== 'function') throw new Error(`module ${modulePath} must export a function "${name}"`);
  }
  const forward = mod.forward as (p: Params, d: unknown) => unknown;
  const backward = mod.backward as (p: Params, d: unknown, cache: unknown) => Record<string, unknown>;
  const p0 = (typeof mod.parameters === 'function' ? await (mod.parameters as () => unknown)() : mod.parameters) as
    Params | undefined;
  if (!p0 || typeof p0 !== 'object')
    throw new Error(`module ${modulePath} must export "parameters": { W1: [[…]], b1: [[…]], … }`);
  const names = order(Object.keys(p0));
  const groups: Group[] = names.map((n) => ({ name: n, shape: shapeOf(n, p0[n]) }));
  const theta0: number[] = [];
  for (const n of names) flattenValue(n, p0[n], theta0);

  const toParams = (theta: ArrayLike<number>): Params => {
    const out: Params = {};
    let o = 0;
    for (const g of groups) {
      const rows: number[][] = [];
      for (let r = 0; r < g.shape[0]; r++) {
        const row: number[] = [];
        for (let c = 0; c < g.shape[1]; c++) row.push(theta[o++]!);
        rows.push(row);
      }
      out[g.name] = rows;
    }
    return out;
  };
  const costOf = (out: unknown): number => (typeof out === 'number' ? out : Number((out as { cost?: unknown })?.cost));
  const cost = (theta: ArrayLike<number>): number => costOf(forward(toParams(theta), data));
  const gradient = (theta: ArrayLike<number>): number[] => {
    const params = toParams(theta);
    const out = forward(params, data);
    const grads = backward(
      params,
      data,
      typeof out === 'object' && out !== null ? (out as { cache?: unknown }).cache : undefined,
    );
    const flat: number[] = [];
    for (const g of groups) {
      const v = grads[`d${g.name}`] ?? grads[g.name];
      if (v === undefined) throw new Error(`backward returned no gradient for ${g.name} (expected a key "d${g.name}")`);
      const before = flat.length;
      flattenValue(`d${g.name}`, v, flat);
      if (flat.length - before !== g.shape[0] * g.shape[1])
        throw new Error(
          `backward's d${g.name} has ${flat.length - before} numbers; ${g.name} is ${g.shape[0]}x${g.shape[1]}`,
        );
    }
    return flat;
  };

  parentPort!.on(
    'message',
    (msg: {
      id: number;
      method: string;
      params?: { entries?: [number, number][]; direction?: number[]; deltas?: number[] };
    }) => {
      try {
        let result: unknown;
        switch (msg.method) {
          case 'describe':
            result = { groups, theta: theta0 };
            break;
          case 'cost':
            result = { cost: cost(theta0) };
            break;
          case 'gradient':
            result = { gradient: gradient(theta0) };
            break;
          case 'costs':
            result = {
              costs: msg.params!.entries!.map(([i, d]) => {
                const t = theta0.slice();
                t[i] = t[i]! + d;
                return cost(t);
              }),
            };
            break;
          case 'costs_along': {
            const u = msg.params!.direction!;
            result = { costs: msg.params!.deltas!.map((d) => cost(theta0.map((v, i) => v + d * u[i]!))) };
            break;
          }
          default:
            throw new Error(`unknown method ${msg.method}`);
        }
        parentPort!.postMessage({ id: msg.id, result });
      } catch (err) {
        parentPort!.postMessage({
          id: msg.id,
          error: {
            message: err instanceof Error ? err.message : String(err),
            traceback: err instanceof Error ? err.stack : undefined,
          },
        });
      }
    },
  );
  parentPort!.postMessage({ id: 0, result: 'ready' });
}

main().catch((err: unknown) => {
  parentPort!.postMessage({ id: 0, error: { message: err instanceof Error ? err.message : String(err) } });
});
