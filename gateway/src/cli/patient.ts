/**
 * The patient's side of the CLI: the key file, its password, the registration it holds, and a
 * session that signs challenges for the patient's own listings.
 *
 * The key file is an ethers (Web3 secret storage v3) encrypted JSON keystore of one secp256k1
 * key (one key per hospital, as the Patient page derives one per hospital), plus a `medprov`
 * member `{ hospital, patientRef, salt }` that `medprov patient register` adds once the hospital
 * has bound the key: the registration is not secret, the key is. The password comes from
 * MEDPROV_KEY_PASSWORD or, on a terminal, a prompt that does not echo; never from the command
 * line. The private key is never printed.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Wallet, getAddress, type TypedDataDomain } from 'ethers';
import { ChaincodeError } from '../../../chaincode/src/lib/errors';
import { requireMspId, requireSha256Hex } from '../../../chaincode/src/lib/validate';
import { PATIENT_CHALLENGE_TYPES } from '../consent/typed-data';
import { challengeToSign, patientAuthorization, registrationDomain, type ChallengeToSign, type PatientRegistration } from '../consent/patient-client';
import { str, type Context, type OptionSpecs } from './command';
import { gatewaySettings } from './config';
import { GatewayClient } from './client';
import { CliError, EXIT, UsageError } from './errors';
import { table } from './output';

/** The password's environment variable. */
export const PASSWORD_ENV = 'MEDPROV_KEY_PASSWORD';
/** The key file's environment variable (the --key flag wins). */
export const KEY_FILE_ENV = 'MEDPROV_KEY_FILE';
const MIN_PASSWORD_LENGTH = 8;

/** The options of the commands that sign as the patient. */
export const KEY_OPTION: OptionSpecs = {
  key: { type: 'string', value: 'file', description: `your encrypted key file (or ${KEY_FILE_ENV}); its password from ${PASSWORD_ENV} or a prompt` },
};
export const PATIENT_OPTIONS: OptionSpecs = {
  ...KEY_OPTION,
  hospital: { type: 'string', value: 'msp', description: 'your hospital (its MSP ID), when the key file does not hold your registration' },
  'patient-ref': { type: 'string', value: 'ref', description: 'your patientRef at that hospital, with --hospital' },
};

/** A key file as read from disk: its keystore JSON, the registration it holds, and its address (readable without the password). */
export interface KeyFile {
  file: string;
  json: Record<string, unknown>;
  address: string;
  registration?: PatientRegistration;
}

/** Runs one of the chaincode's validators on a user's value: its refusal becomes a usage error in the chaincode's words. */
export function validated<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ChaincodeError) throw new UsageError(err.message.slice(err.code.length + 2));
    throw err;
  }
}

/** The key file named by --key or MEDPROV_KEY_FILE. */
export function keyFilePath(ctx: Context): string {
  const file = str(ctx.args, 'key') ?? (ctx.env[KEY_FILE_ENV] || undefined);
  if (!file) throw new UsageError(`no key file: pass --key <file> or set ${KEY_FILE_ENV} (create one with 'medprov key create <file>').`);
  return file;
}

/** Reads a key file (not its key: that needs the password). */
export async function readKeyFile(file: string): Promise<KeyFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `there is no such file (create one with 'medprov key create ${file}')` : code === 'EACCES' ? 'permission denied' : (code ?? 'read error');
    throw new UsageError(`cannot read the key file ${file}: ${why}.`);
  }
  let json: Record<string, unknown>;
  let address: string;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
    address = getAddress(`0x${String(json.address).replace(/^0x/i, '')}`);
    if (json.version !== 3 || typeof (json.crypto ?? json.Crypto) !== 'object') throw new Error('not a keystore');
  } catch {
    throw new UsageError(`${file} is not an encrypted key file (an Ethereum JSON keystore, version 3).`);
  }
  const reg = json.medprov as Partial<PatientRegistration> | undefined;
  const registration =
    reg && typeof reg.hospital === 'string' && typeof reg.patientRef === 'string'
      ? { hospital: reg.hospital, patientRef: reg.patientRef, ...(typeof reg.salt === 'string' ? { salt: reg.salt } : {}) }
      : undefined;
  return { file, json, address, ...(registration ? { registration } : {}) };
}

/** The password: MEDPROV_KEY_PASSWORD, else a prompt on a terminal (twice when `confirm`). */
export async function keyPassword(env: NodeJS.ProcessEnv, purpose: string, confirm = false): Promise<string> {
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`no password: set ${PASSWORD_ENV}, or run in a terminal to be asked (a password is never taken on the command line).`);
  }
  const password = await promptHidden(`Password ${purpose}: `);
  if (confirm && (await promptHidden('Again, to confirm: ')) !== password) throw new CliError(EXIT.USAGE, 'the two passwords differ; nothing was written.');
  return password;
}

/** Reads a line from the terminal without echoing it. */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new CliError(EXIT.USAGE, 'cancelled.'));
          return;
        }
        value = ch === '\u007f' || ch === '\b' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Creates an encrypted key file with a new random key; refuses to overwrite. Returns the address. */
export async function createKeyFile(file: string, env: NodeJS.ProcessEnv): Promise<string> {
  // Said before the password is asked for; the exclusive create below is what guarantees it.
  if (existsSync(file)) throw alreadyExists(file);
  const password = await keyPassword(env, `for the new key ${file}`, true);
  if (password.length < MIN_PASSWORD_LENGTH) throw new CliError(EXIT.USAGE, `the password must be at least ${MIN_PASSWORD_LENGTH} characters long; nothing was written.`);
  // A bare key: Wallet.createRandom() alone would also store a (recoverable) mnemonic in the file.
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  const json = await wallet.encrypt(password);
  try {
    await writeFile(file, json + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw alreadyExists(file);
    throw new UsageError(`cannot write ${file}: ${code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' ? 'permission denied' : (code ?? 'write error')}.`);
  }
  return wallet.address;
}

const alreadyExists = (file: string): UsageError => new UsageError(`${file} already exists: a key file is never overwritten (choose another name).`);

/** The key of a key file, opened with its password; a wrong password is exit 2. */
export async function unlockKey(key: KeyFile, env: NodeJS.ProcessEnv): Promise<Wallet> {
  const password = await keyPassword(env, `of ${key.file}`);
  try {
    const wallet = await Wallet.fromEncryptedJson(JSON.stringify(key.json), password);
    return new Wallet(wallet.privateKey);
  } catch (err) {
    const e = err as { code?: string; argument?: string };
    if (e.code === 'INVALID_ARGUMENT' && e.argument === 'password') throw new CliError(EXIT.USAGE, `the password does not open the key file ${key.file}.`);
    throw new CliError(EXIT.USAGE, `the key file ${key.file} cannot be decrypted (${(err as Error).message.split(' (')[0]}).`);
  }
}

/** Records the patient's registration in the key file (written to a new file, then renamed over it). */
export async function saveRegistration(key: KeyFile, registration: PatientRegistration): Promise<void> {
  const next = JSON.stringify({ ...key.json, medprov: registration }) + '\n';
  const tmp = `${key.file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, next, { mode: 0o600, flag: 'wx' });
    await rename(tmp, key.file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CliError(EXIT.USAGE, `the registration could not be saved in ${key.file} (${(err as NodeJS.ErrnoException).code ?? 'write error'}); it is on the ledger: pass --hospital ${registration.hospital} --patient-ref ${registration.patientRef} from now on.`);
  }
}

/** What the patient commands share: the gateway, the unlocked key, the registration. */
export class PatientSession {
  private constructor(
    readonly client: GatewayClient,
    readonly wallet: Wallet,
    readonly registration: PatientRegistration,
  ) {}

  /**
   * Opens the session of a patient command: the gateway settings and the registration are
   * checked before the password is asked for, so a usage error costs no password.
   */
  static async open(ctx: Context): Promise<PatientSession> {
    const client = new GatewayClient(gatewaySettings(ctx.args, ctx.env));
    const key = await readKeyFile(keyFilePath(ctx));
    const registration = registrationOf(ctx, key);
    return new PatientSession(client, await unlockKey(key, ctx.env), registration);
  }

  /** Answers a fresh single-use challenge: the `Authorization: Patient …` value. Learns the channel's salt when the registration lacks it. */
  async authorization(): Promise<string> {
    const challenge = (await this.client.postOpen<ChallengeToSign>('/v1/patients/challenges', { address: this.wallet.address })).body;
    const toSign = challengeToSign(challenge, this.registration);
    if ('problem' in toSign) {
      const why = toSign.problem === 'other-channel' ? 'is on another channel than your registration' : 'sent a challenge that is not a medprov PatientChallenge';
      throw new CliError(EXIT.GATEWAY_ERROR, `the gateway ${why}; nothing was signed.`);
    }
    if (!this.registration.salt) this.registration.salt = toSign.domain.salt;
    return patientAuthorization(toSign.message, await this.wallet.signTypedData(toSign.domain, PATIENT_CHALLENGE_TYPES, toSign.message));
  }

  /** The consent domain to sign grants and revocations in (the registration's channel; asked of the gateway when not known). */
  async domain(): Promise<TypedDataDomain> {
    if (!this.registration.salt) await this.authorization();
    return registrationDomain(this.registration);
  }

  /** GET one of the patient's own listings, answering a challenge. */
  async listing<T>(path: string): Promise<T> {
    const authorization = await this.authorization();
    return (await this.client.request<T>('GET', path, undefined, { auth: false, headers: { authorization } })).body;
  }
}

/**
 * Runs a listing command: the patient's own grants or access-log entries (answering a
 * challenge), the gateway's answer as the --json document, else a count line and a table.
 */
export async function printListing<T>(
  ctx: Context,
  path: string,
  member: 'grants' | 'entries',
  counted: (items: T[]) => string,
  header: readonly string[],
  row: (item: T) => string[],
): Promise<number> {
  const session = await PatientSession.open(ctx);
  const body = await session.listing<{ hospital: string; patientRef: string; patient: string } & Record<typeof member, T[]>>(path);
  const items = body[member];
  ctx.out.document(body);
  ctx.out.line(`${body.hospital} patient ${body.patient}: ${counted(items)}`);
  if (items.length > 0) for (const l of table(header, items.map(row))) ctx.out.line(l);
  return EXIT.OK;
}

/** The registration: --hospital and --patient-ref, else the key file's. */
function registrationOf(ctx: Context, key: KeyFile): PatientRegistration {
  const hospital = str(ctx.args, 'hospital');
  const patientRef = str(ctx.args, 'patient-ref');
  if (hospital !== undefined || patientRef !== undefined) {
    if (hospital === undefined || patientRef === undefined) throw new UsageError('--hospital and --patient-ref go together.');
    const fromFlags = { hospital: validated(() => requireMspId('--hospital', hospital)), patientRef: validated(() => requireSha256Hex('--patient-ref', patientRef)) };
    const sameAsFile = key.registration?.hospital === fromFlags.hospital && key.registration.patientRef === fromFlags.patientRef;
    return sameAsFile ? { ...key.registration! } : fromFlags;
  }
  if (!key.registration) {
    throw new UsageError(`the key file ${key.file} holds no registration: have your hospital register the key ('medprov patient register'), or pass --hospital and --patient-ref.`);
  }
  return { ...key.registration };
}

/** Seconds as a UTC date, 2026-03-01. */
export const isoDate = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 10);
