/**
 * bench:rejoin — how long a peer whose disk was lost takes to be back on the channel (issue 20),
 * from the channel's blocks and from a ledger snapshot, at a stated height. A fresh network
 * (MEDPROV_BENCH_STATE_DIR: a running one) is brought to MEDPROV_BENCH_HEIGHT blocks (default
 * 1,000) by the Hospital's records officer anchoring batches of MEDPROV_BENCH_BATCH records
 * (default 100; one transaction each). The Hospital gateway is stopped; the Hospital's peer is
 * wiped and rejoins by blocks, then wiped again and rejoins by snapshot (written by the Insurer's
 * peer at its last block), then by blocks again so the network is left whole. Prints each; no thresholds.
 *
 * Run: `npm run bench:rejoin`.
 */
import { createHash } from 'node:crypto';
import { channelHeight } from '../../network/src/channel';
import { gatewayName, startGateway } from '../../network/src/gateways';
import { stopDaemon } from '../../network/src/processes';
import { rejoinPeer, wipePeer, type RejoinReport } from '../../network/src/rejoin';
import { benchNetwork, benchProgress, benchRateLimit, printRunContext } from './lib/real-network';
import { envNumber, fmtInt, printHeader, printTable, runBench } from './lib/report';

const HEIGHT = envNumber('MEDPROV_BENCH_HEIGHT', 1_000);
const BATCH = envNumber('MEDPROV_BENCH_BATCH', 100);
const CLIENTS = 4;

runBench(async (resources) => {
  printHeader('bench:rejoin — a peer that lost its disk joins again, by blocks and by snapshot', `height ${fmtInt(HEIGHT)}, ${BATCH} records per transaction`);
  const rateLimit = benchRateLimit();
  const net = await benchNetwork(resources, { evm: false });
  printRunContext(net);
  console.log(rateLimit);
  const { network } = net;
  const hospital = network.organisation('Hospital');
  const peer = network.peersOf(hospital)[0]!;
  const officer = net.gateway('Hospital', 'records-officer');
  const run = Date.now().toString(36);
  let height = await channelHeight(network, peer);
  let records = 0;
  let next = 0;
  const g0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (height < HEIGHT) {
        const n = next++;
        const batch = Array.from({ length: BATCH }, (_, i) => ({ recordId: `rj-${run}-${n}-${i}`, docHash: createHash('sha256').update(`${run}-${n}-${i}`).digest('hex'), patientId: `MRN-${(n * BATCH + i) % 5000}`, category: 'loinc:18842-5' }));
        const res = await fetch(`${officer.url}/v1/records/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${officer.apiKey}`, 'content-type': 'application/json', prefer: 'wait=30' },
          body: JSON.stringify({ records: batch }),
        });
        if (res.status === 201 || res.status === 200) records += BATCH;
        else benchProgress.warn(`batch ${n}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
        if (n % 20 === 0) {
          height = await channelHeight(network, peer);
          process.stderr.write(`\r  height ${fmtInt(height)} of ${fmtInt(HEIGHT)}, ${fmtInt(records)} records`);
        }
      }
    }),
  );
  process.stderr.write('\n');
  height = await channelHeight(network, peer);
  console.log(`grown to height ${fmtInt(height)} with ${fmtInt(records)} records in ${((performance.now() - g0) / 1000).toFixed(0)} s`);

  await stopDaemon(network.pidFile(gatewayName(hospital)), 30_000);
  const reports: RejoinReport[] = [];
  await wipePeer(network, peer, benchProgress);
  reports.push(await rejoinPeer(network, peer, 'blocks', benchProgress));
  await wipePeer(network, peer, benchProgress);
  reports.push(await rejoinPeer(network, peer, 'snapshot', benchProgress));
  await wipePeer(network, peer, benchProgress);
  reports.push(await rejoinPeer(network, peer, 'blocks', benchProgress));
  await startGateway(network, hospital);
  console.log('');
  printTable(
    ['method', 'target height', 'reached', 'snapshot', 'time to caught up'],
    reports.map((r) => [
      r.method,
      fmtInt(r.targetHeight),
      fmtInt(r.height),
      r.snapshot ? `block ${fmtInt(r.snapshot.blockNumber)} by ${r.snapshot.source}, written in ${r.snapshot.seconds.toFixed(1)} s` : '–',
      `${r.seconds.toFixed(1)} s`,
    ]),
  );
});
