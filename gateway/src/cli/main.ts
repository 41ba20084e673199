#!/usr/bin/env node
/**
 * `medprov`, the command line of a medprov organisation's gateway.
 *
 *   medprov <command> [arguments] [options]
 *
 *   verify <file|dir>...              is this document the original? (ORIGINAL/SUPERSEDED/RETRACTED/UNKNOWN)
 *   anchor <file|dir> ...             anchor documents by hash (a folder in batches)
 *   history <issuer> <recordId>       every version of a record
 *   status                            the gateway's health and who your key is
 *   hash <file|dir>...                SHA-256 of local files, nothing sent
 *   verify-receipt <receipt> [<file>] check a receipt offline (and on chain with --rpc)
 *
 * Gateway and key: --gateway/--api-key, else MEDPROV_GATEWAY_URL/MEDPROV_API_KEY, else
 * ~/.config/medprov/config.json `{ "gateway": "…", "apiKey": "…" }`.
 * `--json` prints one JSON document on stdout; `--progress` forces progress bars on stderr
 * (they show by themselves when stderr is a terminal). `medprov <command> --help` for more.
 *
 * Exit status: 0 ok; 1 verification failed; 2 usage error; 3 gateway (or EVM node) unreachable;
 * 4 the gateway refused the request (its code is printed); 5 gateway failure.
 *
 * Run from the repository: `npx tsx gateway/src/cli/main.ts <command> …`
 * (or `node --require tsx/cjs gateway/src/cli/main.ts …`).
 *
 * @module
 */
import { helpText, parseCommandArgs, type Command } from './command';
import { CliError, EXIT, UsageError } from './errors';
import { Output } from './output';
import { anchorCommand } from './commands/anchor';
import { hashCommand } from './commands/hash';
import { historyCommand } from './commands/history';
import { statusCommand } from './commands/status';
import { verifyCommand } from './commands/verify';
import { verifyReceiptCommand } from './commands/verify-receipt';

export const COMMANDS: readonly Command[] = [verifyCommand, anchorCommand, historyCommand, statusCommand, hashCommand, verifyReceiptCommand];

const VERSION = '0.1.0';

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: medprov <command> [arguments] [options]',
    '',
    'The command line of a medprov gateway: anchor and verify medical-record documents by hash.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Gateway and API key: --gateway <url> and --api-key <key>, or MEDPROV_GATEWAY_URL and',
    'MEDPROV_API_KEY, or ~/.config/medprov/config.json {"gateway": "...", "apiKey": "..."}',
    '(flags win over the environment, which wins over the file).',
    '',
    'Every command takes --json (one JSON document on stdout), --progress, --debug and --help.',
    '',
    'Exit status: 0 ok, 1 verification failed, 2 usage error, 3 gateway unreachable,',
    '4 request refused by the gateway, 5 gateway failure.',
    '',
    "Run 'medprov <command> --help' for a command's options and examples.",
    '',
  ].join('\n');
}

/** Runs the CLI on `argv` (without node and the script) and returns the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  const debug = argv.includes('--debug');
  if (name === undefined) {
    process.stderr.write(mainHelp());
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(target ? helpText(target) : mainHelp());
    return EXIT.OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`medprov ${VERSION}\n`);
    return EXIT.OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const hint = name.startsWith('-') ? 'the command comes first, options after it' : `commands: ${COMMANDS.map((c) => c.name).join(', ')}`;
    process.stderr.write(`medprov: unknown command '${name}' (${hint}).\nUsage: medprov <command> [arguments] [options]\nRun 'medprov --help' for the list of commands.\n`);
    return EXIT.USAGE;
  }
  try {
    const args = parseCommandArgs(command, rest);
    if (args.values.help) {
      process.stdout.write(helpText(command));
      return EXIT.OK;
    }
    const json = args.values.json === true;
    const progress = args.values.progress === true || (!json && Boolean(process.stderr.isTTY));
    const out = new Output(json, progress);
    return await command.run({ env, out, args });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`medprov ${command.name}: ${err.message}\nUsage: medprov ${command.usage}\nRun 'medprov ${command.name} --help' for options and examples.\n`);
      if (debug) process.stderr.write(`${err.stack}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`medprov ${command.name}: ${err.message}\n`);
      if (debug) process.stderr.write(`${(err.cause as Error | undefined)?.stack ?? err.stack}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`medprov ${command.name}: unexpected error: ${message}${debug ? '' : ' (run again with --debug for details)'}\n`);
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return EXIT.GATEWAY_ERROR;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`medprov: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT.GATEWAY_ERROR;
    },
  );
}
