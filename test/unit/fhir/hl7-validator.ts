import { execFileSync } from 'node:child_process';
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

/** Validates every resource (a Bundle counts as one) in one run; results in the order given. */
export function hl7Validate(resources: readonly unknown[]): Hl7Report {
  const dir = mkdtempSync(path.join(tmpdir(), 'medprov-fhir-'));
  try {
    const file = path.join(dir, 'resources.json');
    writeFileSync(file, JSON.stringify(resources));
    let stdout: string;
    try {
      stdout = execFileSync('java', ['-jar', hl7ValidatorJar(), file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      // Exit 1: some resource has an error; the report is still on stdout.
      const e = err as { status?: number; stdout?: string; stderr?: string };
      if (e.status !== 1 || !e.stdout) throw new Error(`The HL7 FHIR validator failed (exit ${e.status}): ${e.stderr ?? (err as Error).message}`);
      stdout = e.stdout;
    }
    return JSON.parse(stdout) as Hl7Report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
