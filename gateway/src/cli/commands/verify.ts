import { str, type Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { EXIT, UsageError } from '../errors';
import { expandInputs, hashFile, mapPool } from '../files';
import { fields } from '../output';
import type { VerificationResult } from '../../records/service';

/** The gateway's answer to POST /v1/verifications: the records service's own type. */
export type Verification = VerificationResult;

/** `medprov verify <file|dir>...`: hash locally, ask the gateway what the ledger says. */
export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check that documents are the originals anchored on the ledger',
  usage: 'verify <file|dir>... [--salt <hex>] [--gateway <url>] [--api-key <key>] [--json] [--progress]',
  description: `
Hashes each file locally (the document never leaves this machine; only its SHA-256 is sent) and
asks the gateway (POST /v1/verifications) for its verdict:
  ORIGINAL    the latest version of an active record
  SUPERSEDED  an older version: a later one replaced it
  RETRACTED   the issuer retracted the record
  UNKNOWN     no record has this exact document (any changed byte gives UNKNOWN)
A small document may be anchored as a salted commitment: then only the issuing hospital's gateway
finds it without help; elsewhere pass its salt (from the issuer, or the "salt" of its receipt)
with --salt, for one file. Exit status 0 when every file is ORIGINAL, 1 when any is not. A folder
is walked recursively.`,
  examples: [
    'medprov verify claim-attachment.pdf',
    'medprov verify ./claims/2026-03 --json',
    'medprov verify lab-result.json --salt 3f9c…(64 hex)',
    'MEDPROV_GATEWAY_URL=https://gw.insurer.example MEDPROV_API_KEY=… medprov verify report.pdf',
  ],
  options: {
    salt: { type: 'string', value: 'hex', description: "the record's salt (64 hex), for a document anchored as a salted commitment; one file only" },
  },
  usesGateway: true,
  positionals: { min: 1, max: Infinity },
  async run({ args, out, env }) {
    const client = new GatewayClient(gatewaySettings(args, env));
    const salt = str(args, 'salt')?.toLowerCase();
    if (salt !== undefined && !/^[0-9a-f]{64}$/.test(salt)) throw new UsageError('--salt must be 64 hexadecimal characters (the "salt" of the receipt).');
    const { files, single } = await expandInputs(args.positionals);
    if (salt !== undefined && !single) throw new UsageError('--salt belongs to one record: give exactly one file with it.');
    const bar = out.bar('verifying', files.length, 'files');
    const results = await mapPool(files, 8, async (f) => {
      const { docHash } = await hashFile(f.file);
      const { body } = await client.request<Verification>('POST', '/v1/verifications', salt !== undefined ? { docHash, salt } : { docHash });
      bar.tick();
      return { file: f.display, ...body };
    });
    bar.finish();
    const counts: Record<string, number> = {};
    for (const r of results) counts[r.verdict] = (counts[r.verdict] ?? 0) + 1;
    const ok = results.every((r) => r.verdict === 'ORIGINAL');
    if (single) {
      const r = results[0]!;
      out.document(r);
      out.line(`${r.verdict}  ${r.file}`);
      for (const l of fields([
        ['docHash', r.docHash],
        ['commitment', r.commitment === 'salted' ? `salted (the ledger holds ${r.anchoredHash})` : undefined],
        ['issuer', r.issuer],
        ['record', r.recordId],
        ['version', r.version],
        ['anchored', r.anchoredAt],
        ['txId', r.txId],
        ['block', r.blockNumber],
        ['superseded by', r.supersededBy],
        ['retracted', r.retraction ? `${r.retraction.at} (${r.retraction.reason}, tx ${r.retraction.txId})` : undefined],
      ])) out.line(l);
      if (r.note) out.line(r.note);
    } else {
      out.document({ ok, files: results.length, verdicts: counts, results });
      const width = Math.max(...results.map((r) => r.verdict.length));
      for (const r of results) {
        const where = r.issuer ? `  ${r.issuer} ${r.recordId} v${r.version}` : '';
        out.line(`${r.verdict.padEnd(width)}  ${r.file}${where}`);
      }
      out.line(`${results.length} files: ${Object.entries(counts).map(([v, n]) => `${n} ${v}`).join(', ') || 'none'}`);
    }
    return ok ? EXIT.OK : EXIT.FAILED;
  },
};
