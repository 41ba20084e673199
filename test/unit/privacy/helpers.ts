import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MasterKey, PatientKeyStore, type PatientKeyStoreOptions } from '../../../gateway/src/privacy';

/** A fresh temporary state folder; remove it with the returned function. */
export function tempStateDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'medprov-privacy-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A randomness source that records every 32-byte output (patient keys and the index seed),
 * so tests can look for them in the store file without any backdoor in the store.
 */
export function recordingRandom(): { random: (size: number) => Buffer; keys: Buffer[] } {
  const keys: Buffer[] = [];
  return {
    keys,
    random: (size: number) => {
      const bytes = randomBytes(size);
      if (size === 32) keys.push(Buffer.from(bytes));
      return bytes;
    },
  };
}

/** Opens a store, creating it when missing. */
export function openStore(dir: string, masterKey: MasterKey, extra: Partial<PatientKeyStoreOptions> = {}): Promise<PatientKeyStore> {
  return PatientKeyStore.open({ stateDir: dir, masterKey, ifMissing: 'create', ...extra });
}

/** Expects `run` to throw (or reject with) a PrivacyError of `code`; returns it. */
export async function expectCode(run: () => unknown, code: string, fragment?: string | RegExp): Promise<Error> {
  let result: unknown;
  try {
    result = await run();
  } catch (err) {
    expect((err as { code?: string }).code, (err as Error).message).to.equal(code);
    expect((err as Error).message).to.match(new RegExp(`^${code}: [A-Z0-9]`));
    if (typeof fragment === 'string') expect((err as Error).message).to.include(fragment);
    else if (fragment) expect((err as Error).message).to.match(fragment);
    return err as Error;
  }
  throw new Error(`expected ${code}, but the call returned ${JSON.stringify(result)}`);
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * The i-th synthetic resident-registration-number-like identifier, YYMMDD-GNNNNNN, for
 * i < 1,000,000: 1,000 birth dates × 1,000 serials. Not real RRNs (no checksum).
 */
export function syntheticRrn(i: number): string {
  const day = Math.floor(i / 1000);
  const serial = i % 1000;
  const yy = 40 + (day % 60);
  const mm = 1 + (Math.floor(day / 60) % 12);
  const dd = 1 + (day % 28);
  const gender = 1 + (serial % 2);
  return `${pad(yy, 2)}${pad(mm, 2)}${pad(dd, 2)}-${gender}${pad((serial * 7919) % 1000000, 6)}`;
}

/** Every way a byte string might appear in a text file. */
export function encodings(bytes: Buffer): string[] {
  return [
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
  ];
}

/** True when `haystack` contains `bytes` raw or in any of {@link encodings}. */
export function containsAnyEncoding(haystack: Buffer, bytes: Buffer): boolean {
  if (haystack.includes(bytes)) return true;
  const text = haystack.toString('latin1');
  return encodings(bytes).some((e) => text.includes(e));
}
