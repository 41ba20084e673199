/**
 * The admin's backup route: `POST /v1/admin/backups` `{ recipient }` answers the gateway's
 * non-rebuildable state (key store, acceptance journal, API users), copied consistently while the
 * gateway serves and encrypted to the operator's X25519 public key `recipient`
 * (gateway/src/recovery). The body is the backup file itself (`application/octet-stream`); the
 * gateway keeps no copy. `medprov admin backup` calls it.
 *
 * @module
 */
import type { Express } from 'express';
import { ApiError } from '../errors';
import { publicKeyFromRaw } from '../recovery/backup-format';
import { isRecoveryError } from '../recovery/errors';
import type { GatewayBackups } from '../recovery/gateway-backup';
import type { PrivacyRouteKit } from './privacy-routes';
import { validateBody } from './validation';

export function mountBackupRoutes(app: Express, backups: GatewayBackups, kit: Pick<PrivacyRouteKit, 'route' | 'requireJson'>): void {
  app.post('/v1/admin/backups', ...kit.route('backupGateway', async (req, res) => {
    const { recipient } = validateBody<{ recipient: string }>('BackupRequestBody', kit.requireJson(req));
    let key;
    try {
      key = publicKeyFromRaw(recipient);
    } catch (err) {
      if (isRecoveryError(err)) throw new ApiError(400, 'INVALID_BACKUP_RECIPIENT', err.message.replace(/^[A-Z_]+: /, ''));
      throw err;
    }
    const { bytes, header } = await backups.take(key);
    res
      .status(200)
      .type('application/octet-stream')
      .set('Content-Disposition', `attachment; filename="${header.mspId}-${header.createdAt.replace(/[:.]/g, '-')}.mpbackup"`)
      .set('Medprov-Backup-Summary', JSON.stringify(header.summary))
      .send(bytes);
  }));
}
