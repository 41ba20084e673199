import type { Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient, segment } from '../client';
import { EXIT } from '../errors';

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

/** `medprov history <issuer> <recordId>`: every version of a record, oldest first. */
export const historyCommand: Command = {
  name: 'history',
  summary: 'every version of a record, oldest first (staff)',
  usage: 'history <issuer> <recordId> [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Lists every version of the record <recordId> issued by the organisation <issuer> (its MSP id):
version, status (active, superseded, retracted), document hash, time and transaction
(GET /v1/records/{issuer}/{recordId}/history).`,
  examples: ['medprov history HospitalMSP adm-2026-0001', 'medprov history HospitalMSP 2026/03/adm-0001.pdf --json'],
  options: {},
  usesGateway: true,
  positionals: { min: 2, max: 2 },
  async run({ args, out, env }) {
    const [issuer, recordId] = args.positionals as [string, string];
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body } = await client.get<{ versions: Version[] }>(`/v1/records/${segment(issuer)}/${segment(recordId)}/history`);
    out.document({ issuer, recordId, versions: body.versions });
    out.line(`${issuer} ${recordId}: ${body.versions.length} version${body.versions.length === 1 ? '' : 's'}`);
    for (const v of body.versions) {
      const retraction = v.retraction ? `  retracted ${v.retraction.at} (${v.retraction.reason})` : '';
      out.line(`  v${v.version}  ${v.status.padEnd(10)}  ${v.anchoredAt}  ${v.docHash}  tx ${v.txId}${retraction}`);
    }
    return EXIT.OK;
  },
};
