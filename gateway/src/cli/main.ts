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
 *   receipt <file>                    fetch an anchored document's receipt (checked, then saved)
 *   verify-receipt <receipt> [<file>] check a receipt offline (and on chain with --rpc)
 *   patient register                  bind a patient's key file to the patient (records officers)
 *   patient link                      a one-time registration link and QR code for the Patient page
 *   key create <file>                 a patient's new encrypted key file
 *   consent grant|revoke|list         the patient's consent, signed with their key file
 *   access-log                        who accessed the patient's records, and the decision
 *   break-glass <issuer> <recordId>   open a record without consent in an emergency (clinicians)
 *   audit break-glass                 the hospital's break-glass audit report (DPO, admin)
 *   archive create|anchor|receipt|verify  a folder as one root in one transaction, a receipt per file
 *   access-receipt get|verify         the consent-bound receipt of an access: fetch it, check it offline
 *   linkage request|contribute|status|release  consented research linkage across hospitals (research officers)
 *   admin backup|restore|backup-key|key-split|key-combine  disaster recovery (operators)
 *
 * Commands of two words ('consent grant') are listed by their first word: `medprov consent --help`.
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
import { receiptCommand } from './commands/receipt';
import { accessLogCommand } from './commands/access-log';
import { consentGrantCommand, consentListCommand, consentRevokeCommand } from './commands/consent';
import { keyCreateCommand } from './commands/key';
import { patientLinkCommand, patientRegisterCommand } from './commands/patient';
import { GUARDIAN_COMMANDS } from './commands/guardian';
import { ARCHIVE_COMMANDS } from './commands/archive';
import { BREAK_GLASS_COMMANDS } from './commands/break-glass';
import { ACCESS_RECEIPT_COMMANDS } from './commands/access-receipt';
import { LINKAGE_COMMANDS } from './commands/linkage';
import { ADMIN_COMMANDS } from './commands/admin';

export const COMMANDS: readonly Command[] = [
  verifyCommand,
  anchorCommand,
  historyCommand,
  statusCommand,
  hashCommand,
  receiptCommand,
  verifyReceiptCommand,
  patientRegisterCommand,
  patientLinkCommand,
  keyCreateCommand,
  consentGrantCommand,
  consentRevokeCommand,
  consentListCommand,
  accessLogCommand,
  ...GUARDIAN_COMMANDS,
  ...ARCHIVE_COMMANDS,
  ...BREAK_GLASS_COMMANDS,
  ...ACCESS_RECEIPT_COMMANDS,
  ...LINKAGE_COMMANDS,
  ...ADMIN_COMMANDS,
];

const VERSION = '0.1.0';

/** `  name  summary` lines of some commands. */
function commandList(commands: readonly Command[]): string[] {
  const width = Math.max(...commands.map((c) => c.name.length));
  return commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
}

/** The commands of a two-word group ('consent' → consent grant, revoke, list). */
const groupOf = (word: string | undefined): Command[] => COMMANDS.filter((c) => word !== undefined && c.name.startsWith(`${word} `));

function groupHelp(group: string, commands: readonly Command[]): string {
  return [`Usage: medprov ${group} <command> [arguments] [options]`, '', 'Commands:', ...commandList(commands), '', `Run 'medprov ${group} <command> --help' for a command's options and examples.`, ''].join('\n');
}

/** The command named by the first one or two words of argv, and the arguments after it. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const [first, second, ...more] = argv;
  const two = COMMANDS.find((c) => c.name === `${first} ${second}`);
  if (two) return { command: two, rest: more };
  const one = COMMANDS.find((c) => c.name === first);
  return one ? { command: one, rest: argv.slice(1) } : undefined;
}

function mainHelp(): string {
  return [
    'Usage: medprov <command> [arguments] [options]',
    '',
    'The command line of a medprov gateway: anchor and verify medical-record documents by hash;',
    "for patients, their consent grants and access log, signed with the patient's key file.",
    '',
    'Commands:',
    ...commandList(COMMANDS),
    '',
    'Gateway and API key: --gateway <url> and --api-key <key>, or MEDPROV_GATEWAY_URL and',
    'MEDPROV_API_KEY, or ~/.config/medprov/config.json {"gateway": "...", "apiKey": "..."}',
    '(flags win over the environment, which wins over the file).',
    '',
    'Every command takes --json (one JSON document on stdout), --progress, --debug and --help.',
    '',
    "Patients' commands sign with a key file (--key or MEDPROV_KEY_FILE; its password from",
    'MEDPROV_KEY_PASSWORD or a prompt) and need no API key.',
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
    const target = name === 'help' ? findCommand(rest)?.command : undefined;
    const group = name === 'help' && !target ? groupOf(rest[0]) : [];
    process.stdout.write(target ? helpText(target) : group.length > 0 ? groupHelp(rest[0]!, group) : mainHelp());
    return EXIT.OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`medprov ${VERSION}\n`);
    return EXIT.OK;
  }
  const found = findCommand(argv);
  const group = groupOf(name);
  if (!found && group.length > 0) {
    const asked = rest[0] === '--help' || rest[0] === '-h';
    if (!asked) process.stderr.write(`medprov ${name}: ${rest[0] === undefined ? 'which one?' : `unknown command '${rest[0]}'.`}\n`);
    (asked ? process.stdout : process.stderr).write(groupHelp(name, group));
    return asked ? EXIT.OK : EXIT.USAGE;
  }
  if (!found) {
    const hint = name.startsWith('-') ? 'the command comes first, options after it' : `commands: ${[...new Set(COMMANDS.map((c) => c.name.split(' ')[0]))].join(', ')}`;
    process.stderr.write(`medprov: unknown command '${name}' (${hint}).\nUsage: medprov <command> [arguments] [options]\nRun 'medprov --help' for the list of commands.\n`);
    return EXIT.USAGE;
  }
  const { command } = found;
  try {
    const args = parseCommandArgs(command, found.rest);
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
