/** Kubernetes-style byte quantities: `200Gi`, `1.5G`, `1048576`. */

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** Bytes, or undefined when the text is not a quantity. */
export function parseQuantity(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([kKMGTP]i?|)$/.exec(text.trim());
  if (match === null) return undefined;
  const unit = UNITS[match[2] ?? ''];
  if (unit === undefined) return undefined;
  return Math.floor(Number(match[1]) * unit);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
