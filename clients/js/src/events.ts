/**
 * A small typed event emitter, the same in browsers and Node (no `EventEmitter` import).
 *
 * A listener that throws must not stop the others or the client's own processing, so each
 * call is guarded and the failure handed to `onListenerError`.
 */

export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(value: never) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof Events) => void) {}

  /** Adds a listener; the answer removes it. */
  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (value: never) => void);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as (value: never) => void);
  }

  /** Calls every listener of `event`; answers whether there was any. */
  emit<K extends keyof Events>(event: K, value: Events[K]): boolean {
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        (listener as (value: Events[K]) => void)(value);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
    return true;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
