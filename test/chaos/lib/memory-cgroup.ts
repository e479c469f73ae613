// A cgroup v1 memory controller group with a hard limit, as the kubelet makes
// for a container with `resources.limits.memory`: memory.limit_in_bytes, and
// memory.memsw.limit_in_bytes where swap is accounted (so swap cannot hide an
// overrun). A process is put in it before it execs (its first allocation is
// already charged), and the kernel's own counters are read back: the peak
// (max_usage_in_bytes), how often the limit was hit (failcnt), and whether the
// OOM killer ran (memory.oom_control: under_oom, oom_kill).
//
// Created below the test's own memory cgroup when that is writable, else
// below the root; where neither works (no v1 memory controller, not root)
// createMemoryCgroup says why and the caller falls back.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = '/sys/fs/cgroup/memory';

export interface CgroupFigures {
  readonly usage: number;
  readonly maxUsage: number;
  /** Times usage reached the limit (the kernel then reclaimed, or failed the charge). */
  readonly failcnt: number;
  readonly underOom: boolean;
  /** Processes the OOM killer killed in this group (undefined: the kernel does not count them). */
  readonly oomKills: number | undefined;
  /** memory.stat: resident anonymous memory and page cache, at the time of reading. */
  readonly rss: number;
  readonly cache: number;
}

export interface MemoryCgroup {
  readonly path: string;
  readonly limitBytes: number;
  /** Whether swap is limited too (memory.memsw.limit_in_bytes). */
  readonly swapLimited: boolean;
  /** A command line that joins the group, then execs `command` (same pid). */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] };
  read(): CgroupFigures;
  /** Moves whatever still runs in it back to the test's cgroup, then removes it. */
  remove(): Promise<void>;
}

const ownGroup = (): string | undefined => {
  const line = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((entry) => entry.split(':')[1]?.split(',').includes('memory'));
  return line?.split(':')[2];
};

const keyValues = (file: string): Map<string, number> =>
  new Map(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .map(([key, value]) => [key ?? '', Number(value)]),
  );

/** A new group `name` limited to `limitBytes`, or the reason none could be made. */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup | string {
  if (!existsSync(join(ROOT, 'memory.limit_in_bytes'))) return `no cgroup v1 memory controller at ${ROOT}`;
  const home = join(ROOT, ownGroup() ?? '/');
  let path = '';
  const errors: string[] = [];
  for (const parent of [home, ROOT]) {
    try {
      path = join(parent, name);
      mkdirSync(path);
      writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
      break;
    } catch (error) {
      errors.push(`${path}: ${(error as Error).message}`);
      if (existsSync(path)) rmdirSync(path);
      path = '';
    }
  }
  if (path === '') return `cannot create a memory cgroup (${errors.join('; ')})`;
  const swapFile = join(path, 'memory.memsw.limit_in_bytes');
  const swapLimited = existsSync(swapFile);
  if (swapLimited) writeFileSync(swapFile, String(limitBytes));
  const group = path;
  return {
    path: group,
    limitBytes,
    swapLimited,
    wrap: (command, args) => ({ command: '/bin/sh', args: ['-c', `echo $$ > ${join(group, 'cgroup.procs')} && exec "$0" "$@"`, command, ...args] }),
    read: () => {
      const number = (file: string): number => Number(readFileSync(join(group, file), 'utf8').trim());
      const oom = keyValues(join(group, 'memory.oom_control'));
      const stat = keyValues(join(group, 'memory.stat'));
      return {
        usage: number('memory.usage_in_bytes'),
        maxUsage: number('memory.max_usage_in_bytes'),
        failcnt: number('memory.failcnt'),
        underOom: oom.get('under_oom') === 1,
        oomKills: oom.get('oom_kill'),
        rss: stat.get('rss') ?? 0,
        cache: stat.get('cache') ?? 0,
      };
    },
    remove: async () => {
      const back = join(home, 'cgroup.procs');
      for (let attempt = 0; ; attempt++) {
        const pids = readFileSync(join(group, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            writeFileSync(back, pid);
          } catch {
            // gone meanwhile
          }
        }
        try {
          rmdirSync(group);
          return;
        } catch (error) {
          if (attempt >= 50) throw new Error(`cannot remove ${group}: ${(error as Error).message}`);
          await sleep(100);
        }
      }
    },
  };
}
