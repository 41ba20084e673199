import type { Command } from '../command';
import { EXIT } from '../errors';
import { expandInputs, hashFile, mapPool } from '../files';

/** `medprov hash <file|dir>...`: SHA-256 of local files, nothing sent anywhere. */
export const hashCommand: Command = {
  name: 'hash',
  summary: 'SHA-256 of local files (nothing leaves this machine)',
  usage: 'hash <file|dir>... [--json] [--progress]',
  description: `
Prints the SHA-256 (the docHash the ledger anchors) of each file, streamed from disk, one
"<hash>  <path>" line per file as sha256sum does. A folder is walked recursively (names starting
with "." are skipped). Nothing is sent to the gateway.`,
  examples: ['medprov hash discharge-summary.pdf', 'medprov hash ./exports --json > hashes.json'],
  options: {},
  usesGateway: false,
  positionals: { min: 1, max: Infinity },
  async run({ args, out }) {
    const { files, single } = await expandInputs(args.positionals);
    const bar = out.bar('hashing', files.length, 'files');
    const hashes = await mapPool(files, 8, async (f) => {
      const h = await hashFile(f.file);
      bar.tick();
      return { file: f.display, ...h };
    });
    bar.finish();
    if (single) out.document(hashes[0]);
    else out.document({ files: hashes });
    for (const h of hashes) out.line(`${h.docHash}  ${h.file}`);
    return EXIT.OK;
  },
};
