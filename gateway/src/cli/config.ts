/**
 * Which gateway and API key: flags win over the environment (MEDPROV_GATEWAY_URL,
 * MEDPROV_API_KEY), which wins over the config file `~/.config/medprov/config.json`
 * (`$XDG_CONFIG_HOME/medprov/config.json`, or the file named by MEDPROV_CONFIG) holding
 * `{ "gateway": "https://…", "apiKey": "…" }`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { str, type Parsed } from './command';
import { UsageError } from './errors';

export interface GatewaySettings {
  url: string;
  apiKey?: string;
  timeoutMs: number;
}

/** The config file's path for this environment. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.MEDPROV_CONFIG) return env.MEDPROV_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config');
  return path.join(base, 'medprov', 'config.json');
}

function readConfigFile(file: string): { gateway?: string; apiKey?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`the config file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`the config file ${file} is not valid JSON.`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`the config file ${file} must hold a JSON object { "gateway", "apiKey" }.`);
  const { gateway, apiKey } = json as Record<string, unknown>;
  if (gateway !== undefined && typeof gateway !== 'string') throw new UsageError(`"gateway" in ${file} must be a string.`);
  if (apiKey !== undefined && typeof apiKey !== 'string') throw new UsageError(`"apiKey" in ${file} must be a string.`);
  return { ...(gateway !== undefined ? { gateway } : {}), ...(apiKey !== undefined ? { apiKey } : {}) };
}

/** Resolves the gateway settings; usage error when no gateway is configured or the URL is not http(s). */
export function gatewaySettings(args: Parsed, env: NodeJS.ProcessEnv): GatewaySettings {
  const fromFlags = { gateway: str(args, 'gateway'), apiKey: str(args, 'api-key') };
  const fromEnv = { gateway: env.MEDPROV_GATEWAY_URL || undefined, apiKey: env.MEDPROV_API_KEY || undefined };
  const needFile = !(fromFlags.gateway ?? fromEnv.gateway) || !(fromFlags.apiKey ?? fromEnv.apiKey);
  const fromFile = needFile ? readConfigFile(configPath(env)) : {};
  const url = fromFlags.gateway ?? fromEnv.gateway ?? fromFile.gateway;
  const apiKey = fromFlags.apiKey ?? fromEnv.apiKey ?? fromFile.apiKey;
  if (!url) throw new UsageError(`no gateway: pass --gateway <url>, set MEDPROV_GATEWAY_URL, or put "gateway" in ${configPath(env)}.`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`the gateway URL '${url}' is not a URL.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`the gateway URL '${url}' must start with http:// or https://.`);
  const rawTimeout = str(args, 'timeout');
  const timeout = rawTimeout === undefined ? 30 : Number(rawTimeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) throw new UsageError('--timeout must be a number of seconds from 0 to 3600.');
  return { url: url.replace(/\/+$/, ''), ...(apiKey ? { apiKey } : {}), timeoutMs: Math.round(timeout * 1000) };
}
