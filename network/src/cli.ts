/**
 * The consortium on this machine, from the command line:
 *
 *   npm start          install what is missing, bring everything up, stay in the foreground (Ctrl-C stops it all)
 *   npm run up         the same, detached: returns once every gateway has committed a real transaction
 *   npm run down       stop every process `up` started, by pid
 *   npm run status     each process: pid, port, healthy or not; channel height; chaincode sequence
 *   npm run clean      down, then delete the state folder (crypto, ledgers, keys, logs)
 *   npm run -s peer-env -- ORG   shell exports for Fabric's own `peer` CLI as ORG's admin
 *   tsx network/src/cli.ts rejoin PEER [--snapshot] [--wipe]   a peer whose disk was lost joins again (rejoin.ts)
 *   tsx network/src/cli.ts bundle ORG DIR        one member's deployment bundle (bundle.ts): its identities, the others' public MSPs, start.sh
 *   tsx network/src/cli.ts member-up|member-down ORG   one member's processes only (what a bundle's start.sh / stop.sh run)
 *   tsx network/src/cli.ts add-org ORG.json      a new member joins the running consortium (add-org.ts); the consortium file gets its entry
 *
 * MEDPROV_BASE_PORT moves every port; MEDPROV_STATE_DIR moves every file (default state/).
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { adminEnv } from './fabric-cli';
import { consoleProgress, silentProgress } from './progress';
import { clean, down, loadNetwork, ROOT, status, summary, up } from './system';
import { rejoinPeer, wipePeer } from './rejoin';
import { downMember, memberOf, upMember, writeBundle } from './bundle';
import { addOrganisation } from './add-org';

async function main(command: string | undefined): Promise<number> {
  const progress = consoleProgress();
  switch (command) {
    case 'up': {
      const network = loadNetwork(progress);
      try {
        await up(network, progress);
      } catch (err) {
        const message = (err as Error).message;
        const hint = /Nothing was started/.test(message) ? '' : '\nWhat did start is still running: `npm run status` shows it, `npm run down` stops it.';
        process.stderr.write(`medprov: ${message}${hint}\n`);
        return 1;
      }
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
      const rows = await status(loadNetwork(silentProgress));
      for (const r of rows) {
        process.stdout.write(`${r.healthy ? 'ok  ' : 'DOWN'} ${r.name.padEnd(18)} pid ${String(r.pid ?? '-').padEnd(8)} port ${String(r.port ?? '-').padEnd(6)} ${r.detail}\n`);
      }
      return rows.every((r) => r.healthy) ? 0 : 1;
    }
    case 'peer-env': {
      const network = loadNetwork(silentProgress);
      const org = network.organisation(process.argv[3] ?? '');
      const vars = { ...adminEnv(network, org), FABRIC_LOGGING_SPEC: 'warning', ORDERER_CA: network.ordererTlsCa, ORDERER_ADDRESS: network.orderers[0].address };
      process.stdout.write(`export PATH=${quote(path.dirname(network.bin('peer')))}:"$PATH"\n`);
      for (const [k, v] of Object.entries(vars)) process.stdout.write(`export ${k}=${quote(String(v))}\n`);
      return 0;
    }
    case 'rejoin': {
      // rejoin PEER [--snapshot] [--wipe]: --wipe first deletes its data (a drill); --snapshot joins from a ledger snapshot.
      const args = process.argv.slice(3);
      const network = loadNetwork(progress);
      const name = args.find((a) => !a.startsWith('--'));
      const peer = network.peers.find((p) => p.name === name);
      if (!peer) {
        process.stderr.write(`usage: tsx network/src/cli.ts rejoin PEER [--snapshot] [--wipe]; peers: ${network.peers.map((p) => p.name).join(', ')}\n`);
        return 2;
      }
      if (args.includes('--wipe')) await wipePeer(network, peer, progress);
      const report = await rejoinPeer(network, peer, args.includes('--snapshot') ? 'snapshot' : 'blocks', progress);
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    case 'bundle': {
      const [name, dir] = process.argv.slice(3);
      if (!name || !dir) {
        process.stderr.write('usage: tsx network/src/cli.ts bundle ORG DIR   (ORG: an organisation, or orderer)\n');
        return 2;
      }
      const network = loadNetwork(silentProgress);
      const report = await writeBundle(network, memberOf(network, name), dir);
      process.stdout.write(`${report.member}'s bundle: ${report.dir} (start.sh, stop.sh, README.txt)\nOthers must reach:\n${report.listens.map((l) => `  ${l.address}  ${l.what}`).join('\n')}\n`);
      return 0;
    }
    case 'add-org': {
      const file = process.argv[3];
      if (!file) {
        process.stderr.write('usage: tsx network/src/cli.ts add-org ORG.json   (one organisation entry, as in the consortium file)\n');
        return 2;
      }
      const network = loadNetwork(progress);
      const entry = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      const report = await addOrganisation(network, entry, progress);
      // The operator's consortium file now lists the new member (the next `up` starts it too).
      const consortiumFile = path.resolve(ROOT, process.env.MEDPROV_CONSORTIUM ?? path.join('network', 'consortium.json'));
      const raw = JSON.parse(readFileSync(consortiumFile, 'utf8')) as { organisations: unknown[] };
      raw.organisations.push(entry);
      writeFileSync(consortiumFile, `${JSON.stringify(raw, null, 2)}\n`);
      process.stdout.write(`${report.org} joined: channel update signed by ${report.signedBy.join(', ')}; consortium change approved by ${report.consortiumApprovedBy.join(', ')}; ${consortiumFile} updated\n`);
      return 0;
    }
    case 'member-up':
    case 'member-down': {
      const network = loadNetwork(progress);
      const member = memberOf(network, process.argv[3] ?? '');
      if (command === 'member-up') await upMember(network, member, progress);
      else await downMember(network, member, progress);
      return 0;
    }
    default:
      process.stderr.write('usage: tsx network/src/cli.ts start|up|down|status|clean|peer-env ORG|rejoin PEER [--snapshot] [--wipe]|bundle ORG DIR|member-up ORG|member-down ORG|add-org ORG.json\n');
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

/** A value for a POSIX shell, single-quoted. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
