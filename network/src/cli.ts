/**
 * The consortium on this machine, from the command line:
 *
 *   npm start          install what is missing, bring everything up, stay in the foreground (Ctrl-C stops it all)
 *   npm run up         the same, detached: returns once every gateway has committed a real transaction
 *   npm run down       stop every process `up` started, by pid
 *   npm run status     each process: pid, port, healthy or not; channel height; chaincode sequence
 *   npm run clean      down, then delete the state folder (crypto, ledgers, keys, logs)
 *
 * MEDPROV_BASE_PORT moves every port; MEDPROV_STATE_DIR moves every file (default state/).
 *
 * @module
 */
import { consoleProgress } from './progress';
import { clean, down, loadNetwork, status, summary, up } from './system';

async function main(command: string | undefined): Promise<number> {
  const progress = consoleProgress();
  switch (command) {
    case 'up': {
      const network = loadNetwork(progress);
      await up(network, progress);
      process.stdout.write(summary(network));
      return 0;
    }
    case 'start': {
      const network = loadNetwork(progress);
      let stopping: Promise<void> | undefined;
      const stop = (): void => {
        if (stopping) return;
        progress.step('stopping everything');
        stopping = down(network, progress).then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`medprov: stopping failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        await up(network, progress);
      } catch (err) {
        process.stderr.write(`medprov: ${(err as Error).message}\n`);
        stop();
        return new Promise(() => undefined);
      }
      process.stdout.write(`${summary(network)}Press Ctrl-C to stop everything.\n`);
      // Stay in the foreground until a signal.
      setInterval(() => undefined, 1 << 30);
      return new Promise(() => undefined);
    }
    case 'down':
      await down(loadNetwork(progress), progress);
      return 0;
    case 'clean':
      await clean(loadNetwork(progress), progress);
      return 0;
    case 'status': {
      const rows = await status(loadNetwork({ step: () => undefined, warn: progress.warn }));
      for (const r of rows) {
        process.stdout.write(`${r.healthy ? 'ok  ' : 'DOWN'} ${r.name.padEnd(18)} pid ${String(r.pid ?? '-').padEnd(8)} port ${String(r.port ?? '-').padEnd(6)} ${r.detail}\n`);
      }
      return rows.every((r) => r.healthy) ? 0 : 1;
    }
    default:
      process.stderr.write('usage: tsx network/src/cli.ts start|up|down|status|clean\n');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`medprov: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
