import { expect } from 'chai';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const PORT = 20_000 + (process.pid % 5_000);

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/**
 * The chaincode runs as a service (CCaaS): the peer dials it. This starts the real server
 * process the network scripts supervise, and checks it serves and stops cleanly.
 */
describe('chaincode as a service: the server process', function () {
  this.timeout(120_000);
  let server: ChildProcess | undefined;

  before(() => {
    execFileSync('npx', ['tsc', '-p', 'chaincode/tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  });

  after(() => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
  });

  it('loads the contracts, listens on its address and exits on SIGTERM leaving no process', async () => {
    server = spawn(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/fabric-shim/cli.js'),
        'server',
        `--chaincode-address=127.0.0.1:${PORT}`,
        '--chaincode-id=medprov:test',
        '--module-path=chaincode',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CORE_CHAINCODE_LOGGING_LEVEL: 'warning' } },
    );
    let output = '';
    server.stdout?.on('data', (d) => (output += d));
    server.stderr?.on('data', (d) => (output += d));
    const listening = await waitFor(() => canConnect(PORT), 60_000);
    expect(listening, `chaincode server did not listen; output:\n${output.slice(-2000)}`).to.equal(true);

    const exited = new Promise<number | null>((resolve) => server?.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    await exited;
    expect(await canConnect(PORT)).to.equal(false);
  });
});
