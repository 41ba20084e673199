import { str, type Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient, segment } from '../client';
import { CliError, EXIT } from '../errors';

interface Version {
  docHash: string;
  recordId: string;
  version: number;
  issuer: string;
  status: string;
  category: string;
  anchoredAt: string;
  txId: string;
  supersedes?: string;
  supersededBy?: string;
  retraction?: { reason: string; at: string; txId: string };
}

interface Access {
  purpose: string;
  grantId?: string;
  transactionId: string;
  blockNumber: string;
}

/** `medprov history <issuer> <recordId> [--purpose <purpose>]`: every version of a record, oldest first. */
export const historyCommand: Command = {
  name: 'history',
  summary: 'every version of a record, oldest first (staff; another organisation\'s record under consent)',
  usage: 'history <issuer> <recordId> [--purpose <purpose>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Lists every version of the record <recordId> issued by the organisation <issuer> (its MSP id):
version, status (active, superseded, retracted), document hash, time and transaction
(GET /v1/records/{issuer}/{recordId}/history).

Your own organisation's records are listed as they are. A record another organisation issued
is read only under the patient's consent, with --purpose (claims for a claims officer,
research:<trialId> for a research officer): the gateway checks the consent on the ledger and
logs the read in the patient's access log whatever the decision, and the listing names the
grant and the transaction that logged it. Without --purpose, or without consent, it is refused
(exit 4, CONSENT_REQUIRED or CONSENT_DENIED).`,
  examples: [
    'medprov history HospitalMSP adm-2026-0001',
    'medprov history HospitalMSP 2026/03/adm-0001.pdf --json',
    'medprov history HospitalMSP adm-2026-0001 --purpose claims   # at an insurer, under the patient\'s consent',
  ],
  options: {
    purpose: { type: 'string', value: 'purpose', description: "what you read another organisation's record for: claims, or research:<trialId> (consent-checked and logged)" },
  },
  usesGateway: true,
  positionals: { min: 2, max: 2 },
  async run({ args, out, env }) {
    const [issuer, recordId] = args.positionals as [string, string];
    const purpose = str(args, 'purpose');
    const client = new GatewayClient(gatewaySettings(args, env));
    const query = purpose !== undefined ? `?${new URLSearchParams({ purpose })}` : '';
    const { body } = await client.get<{ versions: Version[]; access?: Access }>(`/v1/records/${segment(issuer)}/${segment(recordId)}/history${query}`).catch((err: unknown) => {
      // The gateway's sentence speaks of its query parameter: say it in this command's words too.
      if (err instanceof CliError && err.code === 'CONSENT_REQUIRED' && purpose === undefined) {
        throw new CliError(err.exitCode, `${err.message} With this command: --purpose claims (or --purpose research:<trialId>).`, err.code, { cause: err });
      }
      throw err;
    });
    out.document({ issuer, recordId, versions: body.versions, ...(body.access ? { access: body.access } : {}) });
    out.line(`${issuer} ${recordId}: ${body.versions.length} version${body.versions.length === 1 ? '' : 's'}`);
    if (body.access) {
      const grant = body.access.grantId ? ` of grant ${body.access.grantId}` : '';
      out.line(`  read under the patient's consent${grant} for ${body.access.purpose}; logged in transaction ${body.access.transactionId} (block ${body.access.blockNumber})`);
    }
    for (const v of body.versions) {
      const retraction = v.retraction ? `  retracted ${v.retraction.at} (${v.retraction.reason})` : '';
      out.line(`  v${v.version}  ${v.status.padEnd(10)}  ${v.anchoredAt}  ${v.docHash}  tx ${v.txId}${retraction}`);
    }
    return EXIT.OK;
  },
};
