/**
 * The DeviceHost on Moddable (the ESP32 and Moddable's simulator): every interface of
 * src/shared/host.ts over the SDK's modules. The adapters are portable and tested on Node
 * (tcp.ts, timers.ts, wifi.ts, storage.ts, log.ts); this module only hands them the SDK's
 * classes, and the manifest (not a runtime `if`) picks each module's platform implementation.
 *
 *   TCP       embedded:io/socket/tcp (ECMA-419), names resolved with Net.resolve  -> tcp.ts
 *   TLS       embedded:io/socket/tcp/tls (ECMA-419, the SDK's TLS 1.2) over that TCP,
 *             the CA a certificate resource, SHA-256 for pins                     -> tls.ts
 *   timers    timer, and Time.ticks for the clock                                 -> timers.ts
 *   random    native: the platform's CSPRNG                                       -> random.ts
 *   SHA-1     crypt's Digest("SHA1") (native); SHA-256 for pins likewise
 *   WiFi      wifi (legacy; the only one with a simulator), Net.get for RSSI/IP    -> wifi.ts
 *   UDP       embedded:io/socket/udp (ECMA-419), Net.resolve for names            -> udp.ts
 *   clock     Date.now() and Time.set (the clock TLS checks dates against)        -> wall-clock.ts
 *   storage   preference (NVS on the ESP32, a JSON file in the simulator)         -> storage.ts
 *   log       one JSON line per event: on the ESP32 through UART0 opened as our own
 *             in a release build (embedded:io/serial), else trace()     -> log.ts, uart.ts
 *   serial    that UART0, for Improv WiFi (release builds on the ESP32)  -> console.ts
 *   memory    instrumentation's "System Free Memory" (debug and -i builds only)
 *   system    the reset reason (resetReason) and esp_restart() on the ESP32; neither in
 *             the simulator (the manifest picks chip.ts or chip-sim.ts)             -> system.ts
 *   listener  embedded:io/socket/listener, accepted as embedded:io/socket/tcp     -> listener.ts
 *   button    embedded:io/digital on the ESP32, none in the simulator             -> button*.ts
 *   updates   the next OTA partition (embedded:storage/flash), ESP-IDF's rollback, the
 *             SDK's ECDSA and SHA-256 on the ESP32; none in the simulator
 *             (firmware.ts or firmware-sim.ts)                                      -> firmware-store.ts
 */
import { Digest } from "crypt";
import Listener from "embedded:io/socket/listener";
import TCP from "embedded:io/socket/tcp";
import TLS from "embedded:io/socket/tcp/tls";
import UDP from "embedded:io/socket/udp";
import Instrumentation from "instrumentation";
import Net from "net";
import Preference from "preference";
import Resource from "Resource";
import Time from "time";
import Timer from "timer";
import WiFi from "wifi";
import type { DeviceHost, LogLevel, Sha1 } from "../../src/shared/host.js";
import { createFactoryResetButton } from "./button.js";
import { createListenerClass, type Ecma419AcceptingTcp, type Ecma419ListenerConstructor } from "./listener.js";
import { createTraceLog } from "./log.js";
import { CONSOLE_PLATFORM, openConsole } from "./console.js";
import { moddableRandom } from "./random.js";
import { PreferenceStorage } from "./storage.js";
import { createTcpSocketClass, type Ecma419TcpConstructor } from "./tcp.js";
import { createTimers, type TimerApi } from "./timers.js";
import { createTlsSocketClass, type Ecma419TlsConstructor } from "./tls.js";
import { createResolver, createUdpSocketClass, type Ecma419UdpConstructor } from "./udp.js";
import { createWallClock } from "./wall-clock.js";
import { ModdableWifi, type NetGet, type WifiApi } from "./wifi.js";
// Chosen per platform by the manifest: chip.ts on the ESP32, chip-sim.ts in the simulator.
import { chipApi } from "hosts/moddable/chip";
import { createSystemHost } from "./system.js";
// Chosen per platform by the manifest: firmware.ts on the ESP32, firmware-sim.ts in the simulator.
import { firmwareHost } from "hosts/moddable/firmware";

/** SHA-1 with the SDK's native digest (the opening handshake's Sec-WebSocket-Accept). */
export const moddableSha1: Sha1 = (bytes: Uint8Array): Uint8Array => {
  const digest = new Digest("SHA1");
  // The SDK's typings take an ArrayBuffer: hand it one holding exactly these bytes.
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  digest.write((whole ? bytes : bytes.slice()).buffer as ArrayBuffer);
  return new Uint8Array(digest.close());
};

/** SHA-256 with the SDK's native digest (the SubjectPublicKeyInfo of a pinned key). */
export const moddableSha256 = (bytes: Uint8Array): Uint8Array => {
  const digest = new Digest("SHA256");
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  digest.write((whole ? bytes : bytes.slice()).buffer as ArrayBuffer);
  return new Uint8Array(digest.close());
};

/**
 * A resource built into the firmware (the manifest's `resources`; certs/ holds the CAs), or
 * undefined when there is none by that name. A Resource is a read-only buffer in flash.
 */
export function moddableResource(name: string): ArrayBuffer | undefined {
  return Resource.exists(name) ? (new Resource(name) as unknown as ArrayBuffer) : undefined;
}

/**
 * Free heap in bytes: the SDK's "System Free Memory" instrument (esp_get_free_heap_size() on
 * the ESP32). Instruments exist only in instrumented builds (mcconfig -d or -i); a release
 * build reports undefined, which telemetry and status show as null.
 */
function createFreeMemory(): () => number | undefined {
  const index = Instrumentation.map("System Free Memory");
  return () => {
    if (index === undefined) return undefined;
    const value = Instrumentation.get(index);
    return typeof value === "number" && value > 0 ? value : undefined;
  };
}

export interface ModdableHostOptions {
  /** Least important level logged (default "info"). */
  logLevel?: LogLevel;
  /** The factory-reset button's GPIO (the build config's factoryResetPin); -1 or absent: none. */
  factoryResetPin?: number;
  /** The wall clock reads 1970-01-01 at start, whatever the platform's says (config clockUnset: the simulator as a chip). */
  clockUnset?: boolean;
  /** The platform's clock is the OS's, kept in sync (config systemClock: the simulator): trusted from boot. */
  systemClock?: boolean;
}

/** The DeviceHost over the SDK's modules. Call once: the SDK's WiFi allows one listener. */
export function createModdableHost(options: ModdableHostOptions = {}): DeviceHost {
  const timers = createTimers(Timer as unknown as TimerApi, () => Time.ticks);
  // On the ESP32 (release build) UART0 is ours: the log and Improv share it, as on any chip.
  const opened = openConsole();
  const uart = typeof opened === "string" ? undefined : opened;
  const log = createTraceLog({ print: uart ? (line) => uart.print(line) : (line) => trace(line), minLevel: options.logLevel ?? "info" });
  if (uart) uart.onDropped = (lines) => log("warn", "log_dropped", { lines, reason: "the UART's output queue was full" });
  else log("info", "improv_unavailable", { reason: opened });
  const resolve = (name: string, callback: (name: string, address?: string) => void): void => Net.resolve(name, callback);
  const wallClock = createWallClock(
    { now: () => Date.now(), setSeconds: (seconds) => Time.set(seconds) },
    { unset: options.clockUnset === true, systemSynced: options.systemClock === true },
  );
  const system = createSystemHost(chipApi);
  const firmware = firmwareHost(() => system.resetReason());
  return {
    tcp: createTcpSocketClass({ TCP: TCP as unknown as Ecma419TcpConstructor, resolve }),
    tls: createTlsSocketClass({
      TLS: TLS as unknown as Ecma419TlsConstructor,
      TCP: TCP as unknown as Ecma419TcpConstructor,
      resolve,
      resource: moddableResource,
      sha256: moddableSha256,
      now: () => wallClock.now(),
    }),
    udp: createUdpSocketClass(UDP as unknown as Ecma419UdpConstructor),
    resolve: createResolver(resolve),
    wallClock,
    timers,
    random: moddableRandom,
    sha1: moddableSha1,
    log,
    wifi: new ModdableWifi(WiFi as unknown as WifiApi, netGet),
    storage: new PreferenceStorage(Preference),
    freeMemory: createFreeMemory(),
    system,
    listener: createListenerClass({
      Listener: Listener as unknown as Ecma419ListenerConstructor,
      TCP: TCP as unknown as Ecma419AcceptingTcp,
    }),
    ...factoryResetButton(options.factoryResetPin ?? -1, log),
    platform: CONSOLE_PLATFORM,
    ...(uart ? { serial: uart.serial } : {}),
    ...(firmware ? { firmware } : {}),
  };
}

/** Net.get, one property at a time (the SDK's typings overload it by property). */
const netGet: NetGet = (property, nif) => {
  if (property === "RSSI") return Net.get("RSSI");
  if (property === "MAC") return Net.get("MAC", nif ?? "station");
  return nif === undefined ? Net.get("IP") : Net.get("IP", nif);
};

/** The host's factoryResetButton, when the build names a pin that opens. */
function factoryResetButton(pin: number, log: DeviceHost["log"]): Pick<DeviceHost, "factoryResetButton"> {
  if (pin < 0) return {};
  try {
    const pressed = createFactoryResetButton(pin);
    return pressed === undefined ? {} : { factoryResetButton: pressed };
  } catch (error) {
    log("error", "factory_reset_button_failed", { pin, error });
    return {};
  }
}
