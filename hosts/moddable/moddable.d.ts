/**
 * Our own declarations of exactly the Moddable SDK APIs that hosts/moddable uses, for
 * type-checking without the SDK (`tsc -p hosts/moddable/tsconfig.json`, part of
 * `npm run build`). Written from the SDK's documentation and sources (version 8.2.3); the
 * SDK's own typings are used instead when mcconfig compiles the firmware, so the code is
 * checked against both.
 *
 * Only what we call is declared: a new use of an SDK API starts with a declaration here.
 */

/** Prints its arguments as strings (serial port on the ESP32, stdout/xsbug in the simulator). */
declare function trace(...values: unknown[]): void;

/**
 * XS compile-time construct: a host function implemented in C (`void name(xsMachine *the)`),
 * linked from a .c file of the manifest's modules.
 */
declare function native(name: string): (...args: any[]) => any;

declare module "mc/config" {
  /** The manifest's `config`, with mcconfig's `key=value` overrides (those are strings). */
  const config: Readonly<Record<string, unknown>>;
  export default config;
}

declare module "timer" {
  /** A timer handle (a host object). */
  export interface TimerHandle {
    readonly __timer: unique symbol;
  }
  export default class Timer {
    private constructor();
    /** Calls `callback` after `ms` ms (an integer), then every `repeat` ms when given. */
    static set(callback: (timer: TimerHandle) => void, ms?: number, repeat?: number): TimerHandle;
    /** Cancels a timer; a timer that already fired (one-shot) or was cleared is ignored. */
    static clear(timer: TimerHandle | undefined | null): void;
  }
}

declare module "time" {
  const Time: {
    /** Milliseconds since boot on the ESP32 (wraps, signed 32-bit); the wall clock in the simulator. */
    readonly ticks: number;
    /** Sets the clock (Date.now()) to `seconds` since 1970, UTC (the ESP32; a no-op in the simulator). */
    set(seconds: number): void;
  };
  export default Time;
}

declare module "wifi" {
  export interface WiFiOptions {
    ssid: string;
    password?: string;
  }
  /**
   * "connect", "gotIP", "lostIP", "disconnect" ("start", "station_connect",
   * "station_disconnect" too); on the ESP32 "disconnect" comes with a code, -1 for a rejected
   * password.
   */
  export type WiFiCallback = (message: string, code?: number) => void;
  export default class WiFi {
    /** With options, starts connecting; with a callback, listens to notifications. */
    constructor(options?: WiFiOptions, callback?: WiFiCallback);
    close(): void;
    static connect(options?: WiFiOptions): void;
    static disconnect(): void;
    /** 0 off, 1 station, 2 access point, 3 station and access point (-5: radio off, ESP32). */
    static mode: number;
    /** Opens an access point; `station: true` keeps the station running (ESP32). Throws when refused. */
    static accessPoint(options: { ssid: string; password?: string; channel?: number; station?: boolean }): void;
    /** Calls back once per network heard ({ssid, rssi, channel, authentication...}), then once with nothing. */
    static scan(
      options: { hidden?: boolean; channel?: number },
      callback: (item?: { ssid: string; rssi: number; channel?: number; authentication?: string } | null) => void,
    ): void;
  }
}

declare module "net" {
  const Net: {
    /**
     * "IP": an address (string); "MAC": "aa:bb:cc:dd:ee:ff"; "RSSI": signal strength in dBm
     * (number). `nif` names the interface ("station", "ap"): the ESP32 answers nothing
     * without it while both run.
     */
    get(property: "IP" | "RSSI" | "MAC", nif?: "station" | "ap"): string | number | undefined;
    /** Looks `name` up; calls back later with the address, or undefined when it failed. */
    resolve(name: string, callback: (name: string, address?: string) => void): void;
  };
  export default Net;
}

declare module "preference" {
  const Preference: {
    get(domain: string, key: string): string | number | boolean | ArrayBuffer | undefined;
    set(domain: string, key: string, value: string | number | boolean | ArrayBuffer): void;
    delete(domain: string, key: string): void;
  };
  export default Preference;
}

declare module "instrumentation" {
  const Instrumentation: {
    /** The index of a named instrument ("System Free Memory"), undefined when unknown. */
    map(name: string): number | undefined;
    /** The instrument's value; undefined in builds without instrumentation (release). */
    get(index: number): number | undefined;
  };
  export default Instrumentation;
}

declare module "crypt" {
  export class Digest {
    constructor(type: "SHA1" | "SHA256");
    write(message: ArrayBuffer): void;
    /** The digest; the object is spent. */
    close(): ArrayBuffer;
  }
}

declare module "embedded:io/socket/tcp" {
  export interface Options {
    /** An IP address literal: this socket does not resolve names. */
    address: string;
    port: number;
    nodelay?: boolean;
    onReadable?: (this: TCP, count: number) => void;
    onWritable?: (this: TCP, count: number) => void;
    /** A failed connect, a reset, or the peer's orderly close (after all bytes were read). */
    onError?: (this: TCP) => void;
    format?: "buffer";
  }
  export default class TCP {
    constructor(options: Options);
    /** `count` bytes (1..buffered, more throws), or all buffered; undefined when none. */
    read(count?: number): ArrayBuffer | undefined;
    /** Throws ("would block") past the space onWritable reported. */
    write(bytes: ArrayBuffer | ArrayBufferView): void;
    close(): void;
  }
}

declare module "embedded:io/socket/udp" {
  export interface Options {
    /** Local port to bind (0 or absent: any). */
    port?: number;
    /** `count` datagrams are queued: read() each. */
    onReadable?: (this: UDP, count: number) => void;
    onError?: (this: UDP) => void;
    format?: "buffer";
  }
  export default class UDP {
    /** Binds at once; throws ("bind failed") when it cannot. */
    constructor(options: Options);
    /** The oldest queued datagram, with its sender; undefined when none. */
    read(): (ArrayBuffer & { address: string; port: number }) | undefined;
    /** Sends one datagram to an IP address literal; throws when it cannot be queued. */
    write(bytes: ArrayBuffer | ArrayBufferView, address: string, port: number): void;
    close(): void;
  }
}

declare module "embedded:io/serial" {
  export interface Options {
    /** The UART (0: the console's). */
    port: number;
    /** GPIO numbers. */
    transmit: number;
    receive: number;
    /** bit/s */
    baud: number;
    format?: "buffer";
    onReadable?: (this: Serial, count: number) => void;
    onWritable?: (this: Serial, count: number) => void;
  }
  /** Throws when the UART or its pins are in use ("port in use", "in use"). */
  export default class Serial {
    constructor(options: Options);
    /** What the receive FIFO holds, or undefined when nothing. */
    read(): ArrayBuffer | undefined;
    /** Into the transmit FIFO; throws ("output full") past the space onWritable reported. */
    write(bytes: ArrayBuffer | ArrayBufferView): void;
    close(): void;
  }
}

declare module "Resource" {
  /** A read-only buffer built into the firmware (the manifest's resources). */
  export default class Resource {
    constructor(name: string);
    static exists(name: string): boolean;
    readonly byteLength: number;
  }
}

declare module "embedded:storage/flash" {
  /** A flash partition (ECMA-419 flash storage): "nextota" is the next OTA app partition on the ESP32. */
  export interface Flash {
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    write(buffer: ArrayBuffer, byteOffset: number): void;
    /** Erases blocks [start, end) (block numbers). */
    eraseBlock(start: number, end?: number): void;
    status(): { size: number; blockLength: number; blocks: number };
    close(): void;
  }
  const FlashStorage: {
    open(options: { path: string; mode?: "r" | "r+" }): Flash;
  };
  export default FlashStorage;
}

declare module "embedded:io/socket/listener" {
  /** ECMA-419 TCP listener: binds every interface; throws when the port cannot be bound. */
  export default class Listener {
    constructor(options: { port: number; onReadable?: (this: Listener, count: number) => void });
    /** The oldest waiting connection, for `new TCP({from})`. */
    read(): unknown;
    close(): void;
  }
}

declare module "embedded:io/digital" {
  /** ECMA-419 digital pin (ESP32 builds only: the simulator has none). */
  export default class Digital {
    static readonly InputPullUp: number;
    constructor(options: { pin: number; mode: number });
    /** 0 or 1. */
    read(): number;
    close(): void;
  }
}
