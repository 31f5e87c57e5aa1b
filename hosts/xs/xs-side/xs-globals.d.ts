/**
 * What the XS side of the host gets from its engine. xsnap's start compartment has these
 * globals (issueCommand, print, performance, gc, TextEncoder/TextDecoder); the loader in
 * hosts/xs/engine.ts runs our modules, and the firmware's, in a Compartment whose only
 * non-standard global is `__xsHost`, an object of the powers below. So src/ modules see plain
 * ECMAScript, as they would on the chip, and a missing global fails in XS as it would there.
 */
export interface XsPowers {
  /** A synchronous call to Node (xsnap's issueCommand): bytes in, bytes out. */
  issueCommand(message: ArrayBuffer): ArrayBuffer;
  /** xsnap's print: one line on the worker's stdout. */
  print(...values: unknown[]): void;
  /**
   * xsnap's performance.now(): wall-clock milliseconds (epoch based, microsecond
   * resolution), so not monotonic; bridge.ts anchors it to Node's monotonic clock.
   */
  wallNow(): number;
  /** Collects garbage now (xsnap's gc()). */
  gc(): void;
  /**
   * UTF-8 (xsnap's TextEncoder/TextDecoder): decode() replaces invalid sequences; both keep a
   * leading byte order mark (ignoreBOM).
   */
  encode(text: string): Uint8Array;
  decode(bytes: Uint8Array): string;
  /** Installs the function that answers Node's deliveries (globalThis.handleCommand). */
  setHandler(handler: (message: ArrayBuffer) => ArrayBuffer): void;
}
