import type { Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { EXIT } from '../errors';
import { fields } from '../output';

/** `medprov status`: is the gateway up, and who am I to it. */
export const statusCommand: Command = {
  name: 'status',
  summary: "the gateway's health, and who your API key is",
  usage: 'status [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Asks the gateway for its health (GET /healthz) and, when an API key is configured, who the key
belongs to (GET /v1/whoami): user, role and organisation, and the Fabric identity its
transactions are submitted as (with Fabric CA identities, the enrolled user of its role and the
role its certificate certifies). Exit status 3 when the gateway cannot
be reached, 4 when it refuses the key.`,
  examples: ['medprov status', 'medprov status --gateway http://127.0.0.1:8080 --json'],
  options: {},
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run({ args, out, env }) {
    const settings = gatewaySettings(args, env);
    const client = new GatewayClient(settings);
    const health = (await client.getOpen<{ status: string; org: string }>('/healthz')).body;
    const whoami = settings.apiKey
      ? (await client.get<{ user: { id: string; role: string }; org: { mspId: string; name: string; type: string }; ledgerIdentity?: { name: string; certifiedRole: string | null; source: string } }>('/v1/whoami')).body
      : undefined;
    out.document({ gateway: settings.url, health, ...(whoami ? { whoami } : {}) });
    out.line(`gateway ${settings.url}: ${health.status}`);
    for (const l of fields([
      ['organisation', whoami ? `${whoami.org.mspId} (${whoami.org.type})` : health.org],
      ['user', whoami ? `${whoami.user.id} (${whoami.user.role})` : 'no API key configured'],
      ...(whoami?.ledgerIdentity
        ? [['ledger identity', `${whoami.ledgerIdentity.name} (${whoami.ledgerIdentity.source}${whoami.ledgerIdentity.certifiedRole ? `, certified role ${whoami.ledgerIdentity.certifiedRole}` : ', no certified role'})`] as [string, string]]
        : []),
    ])) out.line(l);
    return EXIT.OK;
  },
};
