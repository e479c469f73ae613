/**
 * A client-node Watch that stop() ends for good. ListWatch keeps no handle on the watch
 * request it opens, and one that connects after the informer was stopped would stream on;
 * this Watch aborts every open request, and one that connects after stop() at once.
 */
import { Watch } from '@kubernetes/client-node';

export class StoppableWatch extends Watch {
  readonly #open = new Set<AbortController>();
  #stopped = false;

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const [path, params, callback, done] = args;
    if (this.#stopped) {
      const idle = new AbortController();
      idle.abort();
      return idle;
    }
    let controller: AbortController | undefined;
    controller = await super.watch(path, params, callback, (error: unknown) => {
      if (controller !== undefined) this.#open.delete(controller);
      done(error);
    });
    if (this.#stopped) controller.abort();
    else this.#open.add(controller);
    return controller;
  }

  stop(): void {
    this.#stopped = true;
    for (const controller of this.#open) controller.abort();
    this.#open.clear();
  }
}
