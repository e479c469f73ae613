/**
 * A value computed once per pair of objects and kept as long as both live: the engine's
 * judges use it to judge immutable cached facts once per policy object (a policy lives as
 * long as its revision), so a warm review reads results instead of computing them again.
 */
export class PairMemo<A extends object, B extends object, V> {
  readonly #byFirst = new WeakMap<A, WeakMap<B, V>>();

  get(first: A, second: B, compute: () => V): V {
    let bySecond = this.#byFirst.get(first);
    if (bySecond === undefined) {
      bySecond = new WeakMap();
      this.#byFirst.set(first, bySecond);
    }
    let value = bySecond.get(second);
    if (value === undefined) {
      value = compute();
      bySecond.set(second, value);
    }
    return value;
  }
}
