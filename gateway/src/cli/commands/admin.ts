/**
 * The operations team's disaster-recovery commands: the backup key, backups of a running
 * gateway, restores, and the master key split among officers (gateway/src/recovery).
 *
 * @module
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Command, Context } from '../command';
import { str, intOption } from '../command';
import { gatewaySettings } from '../config';
import { CliError, EXIT, UsageError } from '../errors';
import { fields } from '../output';
import { promptHidden } from '../patient';
import { loadGatewayConfig } from '../../config';
import { MASTER_KEY_ENV, MasterKey, PatientKeyStore } from '../../privacy';
import { openBackup, readBackupHeader, type BackupHeader } from '../../recovery/backup-format';
import { gatewayBinding } from '../../recovery/gateway-backup';
import { isRecoveryError, type RecoveryErrorCode } from '../../recovery/errors';
import { combineMasterKey, masterKeyFingerprint, masterKeyHex, parseMasterKeyShare, splitMasterKey, type MasterKeyShare } from '../../recovery/master-key-shares';
import { createOperatorKey, openOperatorKey, operatorPublicKey } from '../../recovery/operator-key';
import { restoreGatewayState } from '../../recovery/restore';

/** The backup key's passphrase: from this variable, else a prompt on a terminal; never a flag. */
export const BACKUP_PASSPHRASE_ENV = 'MEDPROV_BACKUP_PASSPHRASE';
const ROOT = path.resolve(__dirname, '../../../..');

/** Refusals about a backup's content are "verification failed" (1); the rest are the operator's to fix (2). */
const FAILED_CODES = new Set<RecoveryErrorCode>(['BACKUP_UNREADABLE', 'BACKUP_WRONG_KEY', 'BACKUP_TAMPERED', 'BACKUP_FOREIGN', 'SHARE_MALFORMED', 'SHARES_MIXED', 'SHARES_INCONSISTENT']);

async function recovering<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isRecoveryError(err)) throw new CliError(FAILED_CODES.has(err.code) ? EXIT.FAILED : EXIT.USAGE, err.message, err.code, { cause: err });
    throw err;
  }
}

async function passphrase(env: NodeJS.ProcessEnv, confirm: boolean): Promise<string> {
  const fromEnv = env[BACKUP_PASSPHRASE_ENV];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`no passphrase: set ${BACKUP_PASSPHRASE_ENV}, or run in a terminal to be asked (it is never taken on the command line).`);
  }
  const value = await promptHidden('Backup key passphrase: ');
  if (confirm && (await promptHidden('Again, to confirm: ')) !== value) throw new CliError(EXIT.USAGE, 'the two passphrases differ; nothing was written.');
  return value;
}

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
}

/** Writes a new owner-only file; an existing one is never overwritten. */
async function writeNew(file: string, data: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const tmp = `${file}.partial-${process.pid}`;
  await fs.writeFile(tmp, data, { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(tmp, file); // fails if `file` exists: never overwritten, even by a race
  } catch (err) {
    await fs.rm(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} exists; it is never overwritten. Choose another name or move it away.`);
    throw err;
  }
  await fs.rm(tmp, { force: true });
}

function headerLines(h: BackupHeader): string[] {
  return fields([
    ['organisation', h.mspId],
    ['channel', h.channel],
    ['consortium', `${h.consortium.slice(0, 16)}… (SHA-256 of the peer TLS root)`],
    ['taken at', h.createdAt],
    ['files', h.files.map((f) => `${f.path} (${f.bytes} B)`).join(', ')],
    ...Object.entries(h.summary).map(([k, v]) => [k, v] as const),
  ]);
}

/** `medprov admin backup-key <file>`: the operator's backup key pair. */
export const adminBackupKeyCommand: Command = {
  name: 'admin backup-key',
  summary: "create the operator's backup key (backups are encrypted to it)",
  usage: 'admin backup-key <file> [--json]',
  description: `
Creates an X25519 key pair for backups: <file> holds the private key sealed under a passphrase
(scrypt, AES-256-GCM; mode 0600, never overwritten), <file>.pub the public key (one line). The
passphrase comes from ${BACKUP_PASSPHRASE_ENV} or is asked twice on a terminal; at least 12
characters. Backups are encrypted to the public key ('medprov admin backup --recipient
<file>.pub'); only the key file and its passphrase open them. Keep both away from the gateway's
host and from the backups.`,
  examples: ['medprov admin backup-key ~/medprov/hospital-backup.key'],
  options: {},
  usesGateway: false,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const file = args.positionals[0]!;
    if (existsSync(file) || existsSync(`${file}.pub`)) throw new UsageError(`${file} or ${file}.pub exists; they are never overwritten.`);
    const { keyFile, publicKey } = await recovering(async () => createOperatorKey(await passphrase(env, true)));
    await writeNew(file, keyFile);
    await writeNew(`${file}.pub`, `${publicKey}\n`);
    out.document({ file, publicKeyFile: `${file}.pub`, publicKey });
    out.line(`created ${file} (private, sealed) and ${file}.pub`);
    for (const l of fields([['public key', publicKey]])) out.line(l);
    return EXIT.OK;
  },
};

/** `medprov admin backup --recipient <pub> --out <file>` */
export const adminBackupCommand: Command = {
  name: 'admin backup',
  summary: "back up the running gateway's state, encrypted to the operator's key (admin)",
  usage: 'admin backup --recipient <public key|file> --out <file> [--json]',
  description: `
Asks the gateway (POST /v1/admin/backups, admin API key) for a backup of what the ledger cannot
give back: the patient key store, the acceptance journal (every request acknowledged so far,
including those not yet committed) and the API users, copied consistently while it serves,
encrypted to the operator's public key and bound to the organisation, channel and consortium.
Writes it to --out (mode 0600, never overwritten). The master key is not in it: the officers
hold it ('medprov admin key-split'). Progress on stderr.`,
  examples: ['medprov admin backup --recipient ~/medprov/hospital-backup.key.pub --out /backups/hospital-$(date +%F).mpbackup'],
  options: {
    recipient: { type: 'string', value: 'key', description: "the operator's public key: 43 base64url characters, or a file holding them (<key file>.pub, or the key file)" },
    out: { type: 'string', value: 'file', description: 'where to write the backup' },
  },
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const { args, out, env } = ctx;
    const recipient = await recipientOf(str(args, 'recipient'));
    const target = str(args, 'out');
    if (!target) throw new UsageError('--out <file> is required.');
    if (existsSync(target)) throw new UsageError(`${target} exists; it is never overwritten.`);
    const settings = gatewaySettings(args, env);
    if (!settings.apiKey) throw new UsageError('no API key: the admin\'s key is needed (--api-key or MEDPROV_API_KEY).');
    const started = Date.now();
    let res: Response;
    try {
      res = await fetch(`${settings.url}/v1/admin/backups`, {
        method: 'POST',
        headers: { authorization: `Bearer ${settings.apiKey}`, 'content-type': 'application/json', accept: 'application/octet-stream, application/json' },
        body: JSON.stringify({ recipient }),
        signal: AbortSignal.timeout(Math.max(settings.timeoutMs, 600_000)),
      });
    } catch (err) {
      throw new CliError(EXIT.UNREACHABLE, `Cannot reach the gateway at ${settings.url}: ${(err as Error).message}.`, undefined, { cause: err });
    }
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      const code = body.error?.code ?? `HTTP_${res.status}`;
      throw new CliError(res.status < 500 ? EXIT.REFUSED : EXIT.GATEWAY_ERROR, `${code}: ${body.error?.message ?? `HTTP ${res.status}`}`, code);
    }
    const bytes = await download(res, ctx);
    const { header } = await recovering(() => readBackupHeader(bytes));
    await writeNew(target, bytes);
    const seconds = (Date.now() - started) / 1000;
    out.document({ file: target, bytes: bytes.length, seconds, header });
    out.line(`backup written to ${target} (${bytes.length} bytes, ${seconds.toFixed(1)} s)`);
    for (const l of headerLines(header)) out.line(l);
    return EXIT.OK;
  },
};

async function recipientOf(value: string | undefined): Promise<string> {
  if (!value) throw new UsageError('--recipient is required: the operator public key, or its file.');
  if (/^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  const text = (await readInput(value, 'the recipient key file')).toString('utf8').trim();
  if (/^[A-Za-z0-9_-]{43}$/.test(text)) return text;
  return recovering(() => operatorPublicKey(text));
}

async function download(res: Response, { out }: Context): Promise<Buffer> {
  const total = Number(res.headers.get('content-length') ?? 0);
  const bar = out.bar('backup', total, 'B');
  const chunks: Buffer[] = [];
  const reader = res.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
    bar.tick(value.length);
  }
  bar.finish();
  return Buffer.concat(chunks);
}

/** `medprov admin restore <backup> --key <file>` */
export const adminRestoreCommand: Command = {
  name: 'admin restore',
  summary: "restore a stopped gateway's state from a backup (operators)",
  usage: 'admin restore <backup> --key <key file> [--replace] [--check] [--master-key-file <file>] [--json]',
  description: `
Opens the backup with the operator's key file (passphrase from ${BACKUP_PASSPHRASE_ENV} or a
prompt), checks its integrity (BACKUP_TAMPERED), that it was encrypted to this key
(BACKUP_WRONG_KEY) and that it is this gateway's: same organisation, channel and consortium
(BACKUP_FOREIGN); then writes the key store, journal and users into the gateway's folder.
The gateway is found as it finds itself: MEDPROV_ORG, MEDPROV_STATE_DIR and MEDPROV_BASE_PORT
(or MEDPROV_GATEWAY_CONFIG). It must be stopped (GATEWAY_RUNNING otherwise). State already
there is never overwritten by accident: RESTORE_WOULD_OVERWRITE, unless --replace, which moves
it aside into replaced-<time>/. --check only opens and checks the backup. With
--master-key-file (or ${MASTER_KEY_ENV}) the restored key store is opened with the master key
to prove they belong together. On the next start the gateway rebuilds its indexes from the
ledger and submits the journal's unfinished requests (the chaincode's idempotency commits each once).
Exit 1 for a backup that fails a check, 2 for a refusal the operator must resolve.`,
  examples: [
    'MEDPROV_ORG=Hospital medprov admin restore hospital.mpbackup --key ~/medprov/hospital-backup.key --check',
    'MEDPROV_ORG=Hospital medprov admin restore hospital.mpbackup --key ~/medprov/hospital-backup.key --master-key-file state/gateways/hospital/master.key',
  ],
  options: {
    key: { type: 'string', value: 'file', description: "the operator's backup key file ('medprov admin backup-key')" },
    replace: { type: 'boolean', description: "move the gateway's present state aside instead of refusing" },
    check: { type: 'boolean', description: 'only open and check the backup; write nothing' },
    'master-key-file': { type: 'string', value: 'file', description: 'check that this master key opens the restored key store' },
  },
  usesGateway: false,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const file = args.positionals[0]!;
    const keyFile = str(args, 'key');
    if (!keyFile) throw new UsageError('--key <file> is required: the operator backup key file.');
    const bytes = await readInput(file, 'the backup');
    const keyText = (await readInput(keyFile, 'the backup key file')).toString('utf8');
    let config;
    try {
      config = loadGatewayConfig(env, ROOT);
    } catch (err) {
      throw new UsageError(`which gateway? ${(err as Error).message}`);
    }
    const binding = await gatewayBinding(config.fabric);
    const steps = out.bar('restore', 4, 'steps');
    const privateKey = await recovering(async () => openOperatorKey(keyText, await passphrase(env, false)));
    steps.tick();
    const contents = await recovering(() => openBackup(bytes, privateKey, binding));
    steps.tick();
    if (args.values.check) {
      steps.finish();
      out.document({ file, checked: true, header: contents.header });
      out.line(`${file}: intact, encrypted to this key, and of this gateway (${binding.mspId}, channel ${binding.channel})`);
      for (const l of headerLines(contents.header)) out.line(l);
      return EXIT.OK;
    }
    const started = Date.now();
    const report = await recovering(() => restoreGatewayState({ dir: config.dir, contents, replace: args.values.replace === true }));
    steps.tick();
    let verified: { activePatients: number; erasedPatients: number; fingerprint: string } | undefined;
    const masterKeyText = str(args, 'master-key-file') ? (await readInput(str(args, 'master-key-file')!, 'the master key file')).toString('utf8') : env[MASTER_KEY_ENV];
    if (masterKeyText) {
      let masterKey: MasterKey;
      try {
        masterKey = MasterKey.parse(masterKeyText, 'the master key');
      } catch (err) {
        throw new UsageError(`${(err as Error).message} (the files are restored; check the key before starting the gateway).`);
      }
      const store = await PatientKeyStore.open({ stateDir: config.keyStoreDir, masterKey, ifMissing: 'fail' }).catch((err: Error) => {
        throw new CliError(EXIT.FAILED, `the restored key store does not open with this master key (${err.message}); the files are in place, give the right key before starting the gateway.`);
      });
      const status = store.status();
      await store.close();
      verified = { activePatients: status.activePatients, erasedPatients: status.erasedPatients, fingerprint: masterKeyFingerprint(masterKey) };
    }
    steps.tick();
    steps.finish();
    const seconds = (Date.now() - started) / 1000;
    out.document({ file, dir: config.dir, restored: report.files, movedAside: report.movedAside, seconds, header: contents.header, ...(verified ? { masterKey: verified } : {}) });
    out.line(`restored ${report.files.length} files into ${config.dir} (${seconds.toFixed(1)} s)`);
    for (const l of headerLines(contents.header)) out.line(l);
    if (report.movedAside) out.line(`  the state that was there is in ${report.movedAside}`);
    if (verified) out.line(`  master key ${verified.fingerprint} opens the key store: ${verified.activePatients} patients, ${verified.erasedPatients} erased`);
    else out.note('The master key was not checked (give --master-key-file): the gateway will not start without the key the store was sealed with.');
    return EXIT.OK;
  },
};

/** `medprov admin key-split` */
export const adminKeySplitCommand: Command = {
  name: 'admin key-split',
  summary: 'split the master key among officers: any k of n restore it',
  usage: 'admin key-split --shares <n> --threshold <k> --out-dir <dir> [--master-key-file <file>] [--json]',
  description: `
Splits the organisation's master key (from --master-key-file, else ${MASTER_KEY_ENV}) with
Shamir's secret sharing over GF(256) into n shares, any k of which give it back and k - 1 of
which tell nothing about it. Writes share-<i>-of-<n>.txt into --out-dir (mode 0600, never
overwritten): one line each, to hand to one officer each (print it, keep it in their own safe),
then delete the files. Each share names the key's fingerprint and carries check digits, so a
mistyped share or shares of another key are refused when combined ('medprov admin key-combine').`,
  examples: ['medprov admin key-split --shares 3 --threshold 2 --out-dir /media/officers --master-key-file state/gateways/hospital/master.key'],
  options: {
    shares: { type: 'string', value: 'n', description: 'how many shares (officers), 2 to 255' },
    threshold: { type: 'string', value: 'k', description: 'how many are needed to restore the key, 2 to n' },
    'out-dir': { type: 'string', value: 'dir', description: 'where to write the share files' },
    'master-key-file': { type: 'string', value: 'file', description: `the master key (else ${MASTER_KEY_ENV})` },
  },
  usesGateway: false,
  positionals: { min: 0, max: 0 },
  async run({ args, out, env }) {
    const n = intOption(args, 'shares', 3, 2, 255);
    const k = intOption(args, 'threshold', 2, 2, 255);
    const dir = str(args, 'out-dir');
    if (!dir) throw new UsageError('--out-dir <dir> is required.');
    const keyFile = str(args, 'master-key-file');
    const text = keyFile ? (await readInput(keyFile, 'the master key file')).toString('utf8') : env[MASTER_KEY_ENV];
    let key: MasterKey;
    try {
      key = MasterKey.parse(text, keyFile ? `the master key file ${keyFile}` : MASTER_KEY_ENV);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const lines = await recovering(() => splitMasterKey(key, n, k));
    const files: string[] = [];
    for (const [i, line] of lines.entries()) {
      const file = path.join(dir, `share-${i + 1}-of-${n}.txt`);
      await writeNew(file, `${line}\n`);
      files.push(file);
    }
    out.document({ fingerprint: masterKeyFingerprint(key), shares: n, threshold: k, files });
    out.line(`master key ${masterKeyFingerprint(key)} split: any ${k} of these ${n} shares restore it`);
    for (const f of files) out.line(`  ${f}`);
    key.destroy();
    return EXIT.OK;
  },
};

/** `medprov admin key-combine` */
export const adminKeyCombineCommand: Command = {
  name: 'admin key-combine',
  summary: 'restore the master key from k officers’ shares',
  usage: 'admin key-combine <share file>... --out <file> [--json]',
  description: `
Combines the officers' shares (one file each, as 'medprov admin key-split' wrote them) into the
master key and writes it to --out (64 hex digits, mode 0600, never overwritten), e.g. the
gateway's master.key. Refused: a damaged share (SHARE_MALFORMED), shares of different splits
(SHARES_MIXED), fewer than the split's threshold (SHARES_TOO_FEW), a share given twice, or
shares that do not give the key they name (SHARES_INCONSISTENT). The key is never printed.`,
  examples: ['medprov admin key-combine alice.txt carol.txt --out state/gateways/hospital/master.key'],
  options: { out: { type: 'string', value: 'file', description: 'where to write the master key' } },
  usesGateway: false,
  positionals: { min: 1, max: 255 },
  async run({ args, out }) {
    const target = str(args, 'out');
    if (!target) throw new UsageError('--out <file> is required.');
    const shares: MasterKeyShare[] = [];
    for (const file of args.positionals) shares.push(await recovering(async () => parseMasterKeyShare((await readInput(file, 'the share')).toString('utf8'), file)));
    const key = await recovering(() => combineMasterKey(shares));
    const fingerprint = masterKeyFingerprint(key);
    await writeNew(target, `${masterKeyHex(key)}\n`);
    key.destroy();
    out.document({ file: target, fingerprint, shares: shares.length });
    out.line(`master key ${fingerprint} restored from ${shares.length} shares into ${target}`);
    return EXIT.OK;
  },
};

export const ADMIN_COMMANDS: readonly Command[] = [adminBackupKeyCommand, adminBackupCommand, adminRestoreCommand, adminKeySplitCommand, adminKeyCombineCommand];
