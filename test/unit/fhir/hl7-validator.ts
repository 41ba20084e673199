import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * The official HL7 FHIR R4 validator (HAPI FHIR's FhirInstanceValidator, tools/fhir-validator),
 * built by scripts/install-fhir-validator.sh when it is not yet, and run once for many resources
 * (one JVM start). For tests only.
 */
export interface Hl7Message {
  severity: string;
  location: string;
  message: string;
  messageId?: string;
}
export interface Hl7Result {
  source: string;
  resourceType: string;
  errors: Hl7Message[];
  warnings: Hl7Message[];
}
export interface Hl7Report {
  validator: string;
  fhirVersion: string;
  igs: string[];
  results: Hl7Result[];
}

const ROOT = path.resolve(__dirname, '../../..');
let jar: string | undefined;

/** Builds the tool if needed (Maven, the first time from Maven Central) and returns its jar. */
export function hl7ValidatorJar(): string {
  if (jar) return jar;
  let out: string;
  try {
    out = execFileSync('bash', [path.join(ROOT, 'scripts/install-fhir-validator.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  } catch (err) {
    throw new Error(`The HL7 FHIR validator could not be built (bash scripts/install-fhir-validator.sh; it needs java 17+, mvn and Maven Central once): ${(err as Error).message}`);
  }
  jar = out.trim().split('\n').pop()!;
  return jar;
}

/**
 * Validates every resource (a Bundle counts as one) in one run; results in the order given.
 * Asynchronous, so a caller's open connections are served while the JVM runs (a blocked event
 * loop misses a keep-alive socket's close and reuses it dead).
 */
export async function hl7Validate(resources: readonly unknown[]): Promise<Hl7Report> {
  const jarPath = hl7ValidatorJar();
  const dir = mkdtempSync(path.join(tmpdir(), 'medprov-fhir-'));
  try {
    const file = path.join(dir, 'resources.json');
    writeFileSync(file, JSON.stringify(resources));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('java', ['-jar', jarPath, file], { encoding: 'utf8', timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, out, stderr) => {
        // Exit 1: some resource has an error; the report is still on stdout.
        if (!err || ((err as { code?: unknown }).code === 1 && out)) resolve(out);
        else reject(new Error(`The HL7 FHIR validator failed (exit ${String((err as { code?: unknown }).code)}): ${stderr || err.message}`));
      });
    });
    return JSON.parse(stdout) as Hl7Report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
