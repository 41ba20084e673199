/**
 * Where the CPU time goes during a benchmark row: CPU seconds (user + system, from
 * /proc/<pid>/stat) of each process of the network and of the bench process itself, between
 * `cpuSampler(...)` and `stop()`, and how much the rest of the machine (other users) took.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { printTable } from './report';

export interface CpuShare {
  name: string;
  cpuSeconds: number;
  /** Of all the CPU the listed processes and the bench took. */
  share: number;
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** utime + stime of a process in seconds, or undefined when it is gone (or there is no /proc). */
function processCpu(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: the fields after it start past its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusy(): number | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy is everything but idle and iowait.
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3] - cpu[4];
    return busy / clockTicks();
  } catch {
    return undefined;
  }
}

const selfCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const BENCH = 'bench (this process: client, load worker)';

export interface CpuSampler {
  stop(): CpuShare[];
}

/**
 * Starts counting CPU of each named pid and of this process; `stop()` returns each one's CPU
 * seconds since, biggest first, with its share of their sum. A process that exits in between
 * counts what it used until its last sample (0 if none).
 */
export function cpuSampler(pids: Record<string, number>): CpuSampler & { machine(): { wallSeconds: number; busySeconds?: number } } {
  const start = new Map<string, number>();
  for (const [name, pid] of Object.entries(pids)) start.set(name, processCpu(pid) ?? 0);
  const self0 = selfCpu();
  const busy0 = machineBusy();
  const t0 = performance.now();
  let wallSeconds = 0;
  let busySeconds: number | undefined;
  return {
    stop() {
      wallSeconds = (performance.now() - t0) / 1000;
      const busy1 = machineBusy();
      busySeconds = busy0 !== undefined && busy1 !== undefined ? busy1 - busy0 : undefined;
      const rows = Object.entries(pids).map(([name, pid]) => ({ name, cpuSeconds: Math.max(0, (processCpu(pid) ?? start.get(name) ?? 0) - (start.get(name) ?? 0)) }));
      rows.push({ name: BENCH, cpuSeconds: selfCpu() - self0 });
      const total = rows.reduce((a, r) => a + r.cpuSeconds, 0);
      return rows.map((r) => ({ ...r, share: total > 0 ? r.cpuSeconds / total : 0 })).sort((a, b) => b.cpuSeconds - a.cpuSeconds);
    },
    machine: () => ({ wallSeconds, ...(busySeconds !== undefined ? { busySeconds } : {}) }),
  };
}

/** Counts CPU while `run` runs; returns its result and the table's rows. */
export async function withCpu<T>(pids: Record<string, number>, run: () => Promise<T>): Promise<{ result: T; cpu: CpuShare[]; wallSeconds: number; busySeconds?: number }> {
  const sampler = cpuSampler(pids);
  const result = await run();
  const cpu = sampler.stop();
  return { result, cpu, ...sampler.machine() };
}

/**
 * The small table: process, CPU s, share, cores busy (CPU s / wall s); then what the rest of the
 * machine took in the same time (other users of a shared machine make every figure noisy).
 */
export function printCpu(title: string, sample: { cpu: CpuShare[]; wallSeconds: number; busySeconds?: number }): void {
  const { cpu, wallSeconds, busySeconds } = sample;
  console.log(`\nCPU by process, ${title} (${wallSeconds.toFixed(1)} s wall, ${os.cpus().length} cores):`);
  printTable(
    ['process', 'CPU s', 'share', 'cores busy'],
    cpu.filter((r) => r.cpuSeconds > 0.005).map((r) => [r.name, r.cpuSeconds.toFixed(2), `${(r.share * 100).toFixed(1)}%`, (r.cpuSeconds / wallSeconds).toFixed(2)]),
  );
  if (busySeconds !== undefined) {
    const ours = cpu.reduce((a, r) => a + r.cpuSeconds, 0);
    const capacity = wallSeconds * os.cpus().length;
    console.log(
      `  machine: ${busySeconds.toFixed(1)} of ${capacity.toFixed(1)} CPU s busy (${((busySeconds / capacity) * 100).toFixed(0)}%); ` +
        `outside this network and bench (other users): ${Math.max(0, busySeconds - ours).toFixed(1)} CPU s`,
    );
  }
}
