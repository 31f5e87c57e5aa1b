/**
 * Our declaration of the SDK's `embedded:io/socket/tcp/tls` (SDK 8.2.3: the TLS 1.2 client
 * socket of examples/io/tcp/tlssocket, over modules/crypt/ssl). The SDK's own typings for it
 * are mapped under another specifier (embedded:io/socket/tls), so `import ... from
 * "embedded:io/socket/tcp/tls"` would not type-check: manifest.json maps this file to that
 * specifier for mcconfig's tsc, and hosts/moddable/tsconfig.json does the same (`paths`).
 */

/** Its options are the TCP socket's, spread into `new TCP.io(...)`, plus these. */
export interface Options {
  /** An IP address literal, for the TCP socket. */
  address: string;
  port: number;
  /** The server name: sent as SNI and checked against the certificate's subjectAltName. */
  host: string;
  nodelay?: boolean;
  /** The TCP class to open: `new TCP.io({...options, onReadable, onWritable, onError})`. */
  TCP: { io: new (options: any) => object };
  /**
   * Spread into the TLS session's options: `certificate` (a CA in DER, trusted besides the
   * SDK's store), `verify` (false: no checks at all), `cache` (false: no resumption).
   */
  secure?: { certificate?: ArrayBuffer; verify?: boolean; cache?: boolean };
  format?: "buffer";
  onReadable?: (count: number) => void;
  /** The first call: the handshake is done (and verified, unless verify is false). */
  onWritable?: (count: number) => void;
  /** The TCP connection ended, or the session read a close_notify alert. */
  onError?: () => void;
}

export default class TLSSocket {
  constructor(options: Options);
  /** `count` bytes of application data (1..what onReadable announced; more throws). */
  read(count?: number): ArrayBuffer | undefined;
  /** One TLS record of up to 16384 bytes. */
  write(bytes: ArrayBuffer | ArrayBufferView): number;
  close(): void;
}
