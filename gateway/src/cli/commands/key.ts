import type { Command } from '../command';
import { EXIT } from '../errors';
import { fields } from '../output';
import { PASSWORD_ENV, createKeyFile } from '../patient';

/** `medprov key create <file>`: a new patient key in an encrypted key file. */
export const keyCreateCommand: Command = {
  name: 'key create',
  summary: 'create your patient key in a new encrypted key file (patients)',
  usage: 'key create <file> [--json]',
  description: `
Creates a new random secp256k1 key and writes it to <file>, encrypted with a password (an
Ethereum JSON keystore, scrypt; file mode 0600). An existing file is never overwritten. The
password comes from ${PASSWORD_ENV} or is asked twice on the terminal; it is never taken on the
command line, and at least 8 characters long. Prints the key's address; the private key is
never printed.

Use one key per hospital: your hospital binds it to your patient reference
('medprov patient register'), and no two hospitals see the same address. Keep the file and its
password: a lost key cannot be recovered (your hospital can register a new one).`,
  examples: ['medprov key create ~/medprov/hospital.key.json', `${PASSWORD_ENV}=… medprov key create hospital.key.json --json`],
  options: {},
  usesGateway: false,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const file = args.positionals[0]!;
    const address = await createKeyFile(file, env);
    out.document({ file, address });
    out.line(`created ${file}`);
    for (const l of fields([['address', address]])) out.line(l);
    out.note('Keep this file and its password: a lost key cannot be recovered.');
    return EXIT.OK;
  },
};
