/**
 * What a command is, the options every command takes, and the argument parser (node:util
 * `parseArgs`, strict: an unknown flag is a usage error).
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors';
import type { Output } from './output';

/** One option of a command, as `parseArgs` takes it, plus its help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in `--help`: `--name <value>  description`. */
  value?: string;
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed arguments: option values by long name, and the positionals. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Everything a command needs from the outside world. */
export interface Context {
  readonly env: NodeJS.ProcessEnv;
  readonly out: Output;
  readonly args: Parsed;
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The usage line without the leading `medprov `. */
  readonly usage: string;
  /** Paragraphs shown by `--help` after the usage line. */
  readonly description: string;
  readonly examples: readonly string[];
  readonly options: OptionSpecs;
  /**
   * Whether the command talks to a gateway (and so takes --gateway/--api-key/--timeout);
   * 'as-patient': it does, without an API key (the patient's signatures authenticate).
   */
  readonly usesGateway: boolean | 'as-patient';
  /** Positional arguments: at least `min`, at most `max`. */
  readonly positionals: { min: number; max: number };
  run(ctx: Context): Promise<number>;
}

/** Options every command takes. */
export const COMMON_OPTIONS: OptionSpecs = {
  json: { type: 'boolean', description: 'print one JSON document on stdout and nothing else' },
  progress: { type: 'boolean', description: 'show progress on stderr even when it is not a terminal' },
  debug: { type: 'boolean', description: 'print stack traces of errors' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Options of the commands that talk to a gateway. */
export const GATEWAY_OPTIONS: OptionSpecs = {
  gateway: { type: 'string', value: 'url', description: "the organisation's gateway (or MEDPROV_GATEWAY_URL, or `gateway` in the config file)" },
  'api-key': { type: 'string', value: 'key', description: 'your API key (or MEDPROV_API_KEY, or `apiKey` in the config file)' },
  timeout: { type: 'string', value: 'seconds', description: 'give up on a gateway request after this long (default 30)' },
};

/** All options of a command. */
export function optionsOf(command: Command): OptionSpecs {
  const gateway = command.usesGateway ? Object.fromEntries(Object.entries(GATEWAY_OPTIONS).filter(([name]) => name !== 'api-key' || command.usesGateway === true)) : {};
  return { ...command.options, ...gateway, ...COMMON_OPTIONS };
}

/** Parses a command's arguments; throws UsageError for unknown flags, bad values, wrong positional counts. */
export function parseCommandArgs(command: Command, argv: string[]): Parsed {
  const specs = optionsOf(command);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed: Parsed;
  try {
    const result = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    parsed = { values: result.values as Parsed['values'], positionals: result.positionals };
  } catch (err) {
    throw new UsageError(parseErrorSentence(err));
  }
  if (parsed.values.help) return parsed;
  const n = parsed.positionals.length;
  if (n < command.positionals.min) throw new UsageError(n === 0 ? 'missing argument.' : 'missing argument(s).');
  if (n > command.positionals.max) throw new UsageError(`unexpected argument '${parsed.positionals[command.positionals.max]}'.`);
  return parsed;
}

/** `parseArgs`' messages, shortened to one sentence. */
function parseErrorSentence(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? err);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted ?? message}'.`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return message.includes('argument missing') ? `option '${quoted}' needs a value.` : `option '${quoted}' ${message.includes('does not take') ? 'takes no value' : 'has an invalid value'}.`;
    default:
      return message.split('. ')[0]!.replace(/\.?$/, '.');
  }
}

/** The value of a string option, or undefined. */
export function str(args: Parsed, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A positive integer option, with a default and bounds; usage error otherwise. */
export function intOption(args: Parsed, name: string, fallback: number, min: number, max: number): number {
  const raw = str(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}.`);
  return n;
}

/** The `--help` text of a command. */
export function helpText(command: Command): string {
  const lines = [`Usage: medprov ${command.usage}`, '', command.description.trim(), '', 'Options:'];
  const specs = optionsOf(command);
  const labels = Object.entries(specs).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` <${spec.value}>` : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(...labels.map(([f]) => f.length));
  for (const [flag, description] of labels) lines.push(`  ${flag.padEnd(width)}  ${description}`);
  lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}
