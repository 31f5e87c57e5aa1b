/**
 * The client's side of Improv WiFi over serial, for `npm run provision`: sends RPC commands
 * (src/provisioning/improv.ts encodes them) and waits, bounded, for the device's answers among
 * whatever else it prints (its log lines, handed to `onOther`). One command at a time, as
 * devices expect: each resolves with its answer, or rejects with the device's Improv error or
 * a timeout.
 */
import {
  decodeRpc,
  decodeStrings,
  encodeRpcCommand,
  encodeWifiSettings,
  IMPROV_ERROR_NAMES,
  ImprovCommand,
  ImprovError,
  ImprovParser,
  ImprovState,
  ImprovType,
} from "../../src/provisioning/improv.js";

/** Where commands go: the serial port. Returns false when it cannot write now. */
export interface ImprovLink {
  write(bytes: Uint8Array): boolean;
}

/** The device answered with an Improv error state. */
export class ImprovDeviceError extends Error {
  override name = "ImprovDeviceError";
  constructor(readonly code: number) {
    super(`the device says: ${IMPROV_ERROR_NAMES[code] ?? `error 0x${code.toString(16)}`}`);
  }
}

/** No (whole) answer came in time. */
export class ImprovTimeoutError extends Error {
  override name = "ImprovTimeoutError";
}

export interface DeviceInfo {
  firmware: string;
  version: string;
  hardware: string;
  name: string;
  /** Strings the device sent beyond the four (the OS name and version, in newer devices). */
  more: string[];
}

export interface ScannedNetwork {
  ssid: string;
  rssi: number;
  secure: boolean;
}

interface Pending {
  command: number;
  /** Results so far (a scan sends one per network, then an empty one). */
  results: string[][];
  resolve(results: string[][]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface ImprovClientEvents {
  /** Bytes that are not Improv packets (the device's log), in order. */
  onOther?(bytes: Uint8Array): void;
  /** The device reported its state (ImprovState). */
  onState?(state: number): void;
}

export class ImprovClient {
  /** The last state the device reported, if any. */
  state: number | undefined;
  private pending: Pending | undefined;
  private readonly parser: ImprovParser;

  constructor(
    private readonly link: ImprovLink,
    private readonly events: ImprovClientEvents = {},
  ) {
    this.parser = new ImprovParser({
      onPacket: (type, data) => this.packet(type, data),
      ...(events.onOther ? { onOther: (bytes: Uint8Array) => events.onOther!(bytes) } : {}),
    });
  }

  /** Bytes from the port. */
  receive(bytes: Uint8Array): void {
    this.parser.push(bytes);
  }

  /**
   * The device's state; when provisioned, the redirect URL too (undefined: none). Rejects
   * with ImprovTimeoutError when nothing answers within `timeoutMs`.
   */
  async currentState(timeoutMs: number): Promise<{ state: number; url: string | undefined }> {
    // Settled by the state packet, or when provisioned by the result after it (packet()).
    const [strings] = await this.run(ImprovCommand.CURRENT_STATE, encodeRpcCommand(ImprovCommand.CURRENT_STATE), timeoutMs);
    return { state: this.state!, url: strings?.[0] || undefined };
  }

  async deviceInfo(timeoutMs: number): Promise<DeviceInfo> {
    const [strings = []] = await this.run(ImprovCommand.DEVICE_INFO, encodeRpcCommand(ImprovCommand.DEVICE_INFO), timeoutMs);
    if (strings.length < 4) throw new Error(`the device info has ${strings.length} strings, 4 expected`);
    const [firmware, version, hardware, name, ...more] = strings as [string, string, string, string, ...string[]];
    return { firmware, version, hardware, name, more };
  }

  /** The networks the device hears, as it sent them (its order: strongest first). */
  async scan(timeoutMs: number): Promise<ScannedNetwork[]> {
    const results = await this.run(ImprovCommand.WIFI_NETWORKS, encodeRpcCommand(ImprovCommand.WIFI_NETWORKS), timeoutMs);
    return results.map(([ssid = "", rssi = "", auth = ""]) => ({ ssid, rssi: Number.parseInt(rssi, 10), secure: auth !== "NO" }));
  }

  /**
   * Hands the device a network. Resolves once it has joined, with the redirect URL (undefined:
   * none); rejects with ImprovDeviceError (unable to connect, invalid RPC) or a timeout.
   */
  async provision(ssid: string, password: string, timeoutMs: number): Promise<{ url: string | undefined }> {
    const [strings] = await this.run(ImprovCommand.WIFI_SETTINGS, encodeWifiSettings(ssid, password), timeoutMs);
    return { url: strings?.[0] || undefined };
  }

  /** Fails the command under way (the port went away, the user quit). */
  abort(error: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  // -------------------------------------------------------------------------------------

  /**
   * Sends `packet` and waits for the results of `command`: one RPC result, or for a scan
   * every result up to the empty one.
   */
  private run(command: number, packet: Uint8Array, timeoutMs: number): Promise<string[][]> {
    if (this.pending) return Promise.reject(new Error("one Improv command at a time"));
    return new Promise<string[][]>((resolve, reject) => {
      const timer = setTimeout(() => this.abort(new ImprovTimeoutError(`no answer from the device within ${timeoutMs} ms`)), timeoutMs);
      this.pending = { command, results: [], resolve, reject, timer };
      if (!this.link.write(packet)) this.abort(new Error("the serial port is not open"));
    });
  }

  private settle(command: number, strings: string[] | undefined): void {
    const pending = this.pending;
    if (!pending || pending.command !== command) return;
    if (strings !== undefined) pending.results.push(strings);
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve(pending.results);
  }

  private packet(type: number, data: Uint8Array): void {
    switch (type) {
      case ImprovType.CURRENT_STATE: {
        const state = data[0];
        if (state === undefined) return;
        this.state = state;
        this.events.onState?.(state);
        // Not provisioned: the state is the whole answer to "current state".
        if (state !== ImprovState.PROVISIONED) this.settle(ImprovCommand.CURRENT_STATE, undefined);
        return;
      }
      case ImprovType.ERROR_STATE: {
        const code = data[0];
        if (code === undefined || code === ImprovError.NONE) return;
        this.abort(new ImprovDeviceError(code));
        return;
      }
      case ImprovType.RPC_RESULT: {
        const rpc = decodeRpc(data);
        if ("problem" in rpc) return;
        const strings = decodeStrings(rpc.payload);
        if (!Array.isArray(strings)) return;
        const pending = this.pending;
        if (!pending || pending.command !== rpc.command) return;
        if (rpc.command === ImprovCommand.WIFI_NETWORKS && strings.length > 0) {
          pending.results.push(strings);
          return;
        }
        this.settle(rpc.command, rpc.command === ImprovCommand.WIFI_NETWORKS ? undefined : strings);
        return;
      }
    }
  }
}
