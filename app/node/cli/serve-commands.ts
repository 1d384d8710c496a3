import path from 'node:path';
import type { Command } from 'commander';
import { ApiError, isMethod, METHODS } from '../../core/api/contract.js';
import { startBridge } from '../api/http-bridge.js';
import { GradProofService } from '../api/service.js';
import { projectRoot } from '../util/compiled-path.js';
import { wholeNumber } from './options.js';
import { InputError } from '../../core/errors.js';

export function rendererDir(): string {
  return path.join(projectRoot(path.dirname(new URL(import.meta.url).pathname)), 'dist', 'renderer');
}

export function registerServeCommands(
  program: Command,
  openStoreForCli: () => import('../store/database.js').Store,
  setExit: (code: number) => void,
): void {
  program
    .command('serve')
    .description('run the GradProof UI in your browser: a server on 127.0.0.1 only, guarded by a random token')
    .option('--port <n>', 'port to listen on (0: any free port)', wholeNumber('--port', 0, 65535), 0)
    .option(
      '--workers <n>',
      'worker threads for checks (default: the number of cores)',
      wholeNumber('--workers', 1, 256),
    )
    .action(async (o: { port: number; workers?: number }) => {
      const store = openStoreForCli();
      const service = new GradProofService(store, o.workers ? { workers: o.workers } : {});
      let bridge;
      try {
        bridge = await startBridge(service, rendererDir(), o.port);
      } catch (err) {
        store.db.close();
        const code = (err as NodeJS.ErrnoException).code;
        throw new InputError(
          code === 'EADDRINUSE'
            ? `--port ${o.port} is in use; choose another, or 0 for any free port`
            : (err as Error).message,
        );
      }
      process.stdout.write(
        `GradProof is running at ${bridge.url}\nopen that URL in a browser (it holds the access token); database ${store.path}; Ctrl-C stops it\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          service.cancelAll();
          void bridge.close().then(() => {
            store.db.close();
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      setExit(0);
    });

  program
    .command('api <method> [params]')
    .description(
      `call the API contract directly (the CLI transport); params as JSON. Methods: ${METHODS.filter((m) => m !== 'dialog.openFile').join(', ')}`,
    )
    .action(async (method: string, params: string | undefined) => {
      if (!isMethod(method)) throw new InputError(`unknown method ${method}; methods are ${METHODS.join(', ')}`);
      let parsed: unknown = {};
      if (params) {
        try {
          parsed = JSON.parse(params);
        } catch {
          throw new InputError(`params must be JSON, e.g. '{"id": "run-…"}'`);
        }
      }
      const store = openStoreForCli();
      const service = new GradProofService(store);
      try {
        if (method === 'check.start') {
          // A check started from the CLI transport runs to its end here.
          const done = new Promise<unknown>((resolve) =>
            service.onEvent((e) => (e.type === 'check.done' || e.type === 'check.failed') && resolve(e)),
          );
          await service.call(method, parsed);
          process.stdout.write(`${JSON.stringify(await done, null, 2)}\n`);
        } else process.stdout.write(`${JSON.stringify(await service.call(method, parsed), null, 2)}\n`);
      } catch (err) {
        if (err instanceof ApiError) throw new InputError(err.body.error);
        throw err;
      } finally {
        store.db.close();
      }
      setExit(0);
    });
}
