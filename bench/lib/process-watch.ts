/**
 * Memory of a process from /proc/<pid>/status: the kernel's high-water mark of
 * its resident set (VmHWM, which cannot be reset: start a fresh process per
 * measurement) and VmRSS sampled every `intervalMs`, keeping the largest. The
 * last values read stay available after the process is gone.
 */
import { readFileSync } from 'node:fs';

export interface MemoryFigures {
  /** VmHWM in bytes, as last read (0 when never read). */
  readonly hwm: number;
  /** Largest VmRSS sampled, in bytes. */
  readonly maxRss: number;
  /** VmRSS at the first sample, in bytes. */
  readonly firstRss: number;
  /**
   * Largest RssAnon sampled, in bytes: the resident set without file-backed
   * pages (the node binary, ~55 MiB), which the kernel can reclaim before it
   * OOM-kills; memory a container limit cannot take back.
   */
  readonly maxAnon: number;
  readonly samples: number;
}

export interface MemoryWatch {
  /** The figures so far (reads once more first, when the process still runs). */
  read(): MemoryFigures;
  stop(): MemoryFigures;
}

const kib = (status: string, field: string): number | undefined => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? undefined : Number(match[1]) * 1024;
};

export function watchMemory(pid: number, intervalMs = 50): MemoryWatch {
  let hwm = 0;
  let maxRss = 0;
  let firstRss = 0;
  let maxAnon = 0;
  let samples = 0;
  const sample = (): void => {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return; // gone
    }
    const rss = kib(status, 'VmRSS');
    const high = kib(status, 'VmHWM');
    if (rss === undefined || high === undefined) return; // a zombie has no memory lines
    samples++;
    if (samples === 1) firstRss = rss;
    maxRss = Math.max(maxRss, rss);
    maxAnon = Math.max(maxAnon, kib(status, 'RssAnon') ?? 0);
    hwm = Math.max(hwm, high);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  const figures = (): MemoryFigures => ({ hwm, maxRss, firstRss, maxAnon, samples });
  return {
    read: () => {
      sample();
      return figures();
    },
    stop: () => {
      clearInterval(timer);
      sample();
      return figures();
    },
  };
}
