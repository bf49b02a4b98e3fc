/**
 * What the library takes from its host (browser or Node), behind small interfaces.
 *
 * The library compiles against the ES library alone, so it never assumes the DOM's or Node's
 * type definitions: timers, base64 decoding, the WebSocket class and the browser's online
 * flag are looked up on `globalThis` here, once. Time goes through `Clock` so that every
 * timing decision (holds, backoff, pings, rollover, token refresh) can be driven by a test.
 */

/** The time source and timers the library uses; tests pass a manual one. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of a WebSocket event the library reads. */
export interface SocketEvent {
  data?: unknown;
  code?: number;
  reason?: string;
  message?: string;
  error?: unknown;
}

/** The WebSocket surface the library uses: the browser's, Node's global, or `ws`. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "close" | "error", listener: (event: SocketEvent) => void): void;
}

/** A WebSocket class: `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

interface Host {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  atob?(data: string): string;
  WebSocket?: WebSocketConstructor;
  navigator?: { onLine?: boolean };
  TextDecoder?: new () => { decode(bytes: Uint8Array): string };
  URL: new (url: string) => { searchParams: { set(name: string, value: string): void }; toString(): string };
}

const host = globalThis as unknown as Host;

/** The host's clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => host.setTimeout(callback, ms),
  clearTimeout: (handle) => host.clearTimeout(handle),
};

/** The host's WebSocket class, when it has one (browsers; Node 22 and later). */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return host.WebSocket;
}

/** `url` with the query parameter `name` set to `value` (replacing one already there). */
export function withQueryParameter(url: string, name: string, value: string): string {
  const parsed = new host.URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}

/** True only when a browser says it is offline: handshake failures then prove nothing. */
export function hostIsOffline(): boolean {
  return host.navigator?.onLine === false;
}

/** Decodes base64url text (no padding needed) as UTF-8; `undefined` when it is not base64url. */
export function decodeBase64Url(text: string): string | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || host.atob === undefined || host.TextDecoder === undefined) {
    return undefined;
  }
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  try {
    const binary = host.atob(base64);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new host.TextDecoder().decode(bytes);
  } catch {
    return undefined;
  }
}

/** A wait on `clock`: `done` answers true after `ms`, or false as soon as `cancel` is called. */
export function sleep(clock: Clock, ms: number): { done: Promise<boolean>; cancel(): void } {
  let handle: unknown;
  let settle: (elapsed: boolean) => void = () => undefined;
  const done = new Promise<boolean>((resolve) => {
    settle = resolve;
    handle = clock.setTimeout(() => resolve(true), ms);
  });
  return {
    done,
    cancel: () => {
      clock.clearTimeout(handle);
      settle(false);
    },
  };
}
