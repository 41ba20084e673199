import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../../scripts/install-fabric.sh');
const TARBALL = 'hyperledger-fabric-linux-amd64-3.1.5.tar.gz';

/** A release-shaped tarball whose `peer version` says `version` (stand-in binaries, real layout). */
function fakeRelease(dir: string, version: string): string {
  const tree = path.join(dir, 'tree');
  for (const d of ['bin', 'builders/ccaas/bin', 'config']) mkdirSync(path.join(tree, d), { recursive: true });
  for (const tool of ['peer', 'orderer', 'configtxgen', 'configtxlator', 'cryptogen', 'osnadmin', 'discover', 'ledgerutil']) {
    writeFileSync(path.join(tree, 'bin', tool), `#!/bin/sh\necho "${tool}:"\necho " Version: ${version}"\n`);
    chmodSync(path.join(tree, 'bin', tool), 0o755);
  }
  for (const tool of ['detect', 'build', 'release']) {
    writeFileSync(path.join(tree, 'builders/ccaas/bin', tool), '#!/bin/sh\nexit 0\n');
    chmodSync(path.join(tree, 'builders/ccaas/bin', tool), 0o755);
  }
  for (const f of ['core.yaml', 'orderer.yaml', 'configtx.yaml']) writeFileSync(path.join(tree, 'config', f), 'x: 1\n');
  const mirror = path.join(dir, 'mirror');
  mkdirSync(mirror);
  const file = path.join(mirror, TARBALL);
  const tar = spawnSync('tar', ['-czf', file, '-C', tree, 'bin', 'builders', 'config']);
  if (tar.status !== 0) throw new Error(String(tar.stderr));
  return mirror;
}

function sums(mirror: string, digest?: string): void {
  const actual = createHash('sha256').update(readFileSync(path.join(mirror, TARBALL))).digest('hex');
  writeFileSync(path.join(mirror, 'SHA256SUMS'), `${digest ?? actual}  ${TARBALL}\n`);
}

function install(dir: string, mirror: string) {
  const run = spawnSync('bash', [SCRIPT], {
    encoding: 'utf8',
    // No peer on PATH, no download, no source: only the mirror can serve.
    env: { PATH: '/usr/bin:/bin', HOME: dir, MEDPROV_CACHE: path.join(dir, 'cache'), MEDPROV_FABRIC_MIRROR: mirror, MEDPROV_FABRIC_DOWNLOAD: '0' },
  });
  return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr };
}

describe('scripts/install-fabric.sh: the offline mirror route', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'medprov-install-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('unpacks a release tarball from the mirror after checking its SHA256SUMS; a second run is a no-op', () => {
    const mirror = fakeRelease(dir, '3.1.5');
    sums(mirror);
    const first = install(dir, mirror);
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stderr).to.match(/checksum ok/);
    expect(first.stdout.split('\n').pop()).to.equal(path.join(dir, 'cache', 'fabric-3.1.5-86c1172'));
    const second = install(dir, mirror);
    expect(second.status).to.equal(0);
    expect(second.stderr).to.match(/already installed/);
    expect(second.stderr).to.not.match(/unpacking/);
  });

  it('refuses a tarball whose checksum does not match, and says in a sentence what it tried', () => {
    const mirror = fakeRelease(dir, '3.1.5');
    sums(mirror, '0'.repeat(64));
    const run = install(dir, mirror);
    expect(run.status).to.equal(1);
    expect(run.stderr).to.match(/CHECKSUM MISMATCH/);
    expect(run.stderr).to.match(/Fabric 3\.1\.5 could not be installed\. Tried, in order/);
    expect(run.stdout).to.equal('');
  });

  it('refuses a release of another version and leaves no half-filled cache', () => {
    const mirror = fakeRelease(dir, '2.5.9');
    sums(mirror);
    const run = install(dir, mirror);
    expect(run.status).to.equal(1);
    expect(run.stderr).to.match(/holds Fabric 2\.5\.9, not 3\.1\.5/);
    expect(spawnSync('ls', ['-A', path.join(dir, 'cache')], { encoding: 'utf8' }).stdout.trim()).to.equal('');
  });
});
