/**
 * Provisioning, as the device composes it (src/device/device.ts): the core (provisioner.ts),
 * the captive portal (portal.ts) and when it opens and closes, the server's requests
 * (requests.ts), the factory-reset button (factory-reset.ts), and what hello and status say.
 *
 * The portal opens when the device has no network to try, or when WiFi has not been online
 * for portalTimeoutMs (every known network failing: a moved router, a changed password). It
 * stays open while the device keeps trying its known networks in the background (the
 * access point and the station run together), so a device whose network comes back after a
 * power cut carries on by itself; it closes closeDelayMs after the device reached its
 * server, long enough for the page to say so.
 */
import type { DeviceConfig } from "../device/config.js";
import type { RequestHandler } from "../device/handlers.js";
import { WifiState, type WifiManager, type WifiStateValue } from "../device/wifi.js";
import type { DeviceHost, TimerId, WifiNetwork } from "../shared/host.js";
import { FactoryResetButton } from "./factory-reset.js";
import type { HttpServerLimits } from "./http-server.js";
import { Portal } from "./portal.js";
import { Provisioner, type ProvisionOutcome, type ServerLink } from "./provisioner.js";
import { provisioningHandlers } from "./requests.js";

/** After the device reached its server, the portal stays this long (the page says "done"), ms. */
export const PORTAL_CLOSE_DELAY_MS = 15_000;

export interface ProvisioningOptions {
  host: DeviceHost;
  config: DeviceConfig;
  /** Absent: the device's link is always up (no WiFi to set, no portal). */
  wifi: WifiManager | undefined;
  link: ServerLink;
  /** The name in use (stored, or the build's). */
  deviceId: string;
  /** The build config's network, when it has one. */
  buildNetwork: WifiNetwork | undefined;
  closeDelayMs?: number;
  /** Default: the config's serverTrialMs. */
  serverTrialMs?: number;
  httpLimits?: Partial<HttpServerLimits>;
  /** After a factory reset wiped storage and restored the build's settings: the device's own part. */
  onFactoryReset?: () => void;
}

export class Provisioning {
  readonly core: Provisioner;
  /** Absent where the device cannot open one (no listener, no access point, portalPort 0). */
  readonly portal: Portal | undefined;
  private readonly options: ProvisioningOptions;
  private readonly button: FactoryResetButton | undefined;
  private openTimer: TimerId | undefined;
  private closeTimer: TimerId | undefined;
  private running = false;

  constructor(options: ProvisioningOptions) {
    this.options = options;
    const { host, config, wifi, link } = options;
    this.core = new Provisioner({
      storage: host.storage,
      timers: host.timers,
      log: host.log,
      link,
      ...(wifi !== undefined ? { wifi } : {}),
      build: { network: options.buildNetwork, url: config.url, deviceId: config.deviceId },
      deviceId: options.deviceId,
      serverTrialMs: options.serverTrialMs ?? config.serverTrialMs,
      onFactoryReset: () => {
        this.portal?.forget();
        options.onFactoryReset?.();
      },
    });
    const driver = host.wifi;
    if (wifi !== undefined && config.portalPort > 0 && host.listener !== undefined && typeof driver.startAccessPoint === "function") {
      this.portal = new Portal({
        driver,
        listener: host.listener,
        ...(host.udp !== undefined ? { udp: host.udp } : {}),
        timers: host.timers,
        log: host.log,
        provisioner: this.core,
        currentUrl: () => link.url,
        apName: () => accessPointName(safeCall(() => driver.macAddress?.()), this.core.name),
        apPassword: config.apPassword,
        httpPort: config.portalPort,
        dnsPort: config.dnsPort,
        ...(options.httpLimits ? { httpLimits: options.httpLimits } : {}),
      });
    }
    const pressed = host.factoryResetButton;
    if (pressed !== undefined && config.factoryResetPin >= 0) {
      this.button = new FactoryResetButton({
        pressed,
        timers: host.timers,
        holdMs: config.factoryResetHoldMs,
        log: host.log,
        onReset: () => this.core.factoryReset("button"),
      });
    }
  }

  /** The handlers of the server's requests (wifi, server, factory_reset). */
  handlers(): Record<string, RequestHandler> {
    return provisioningHandlers(this.core, this.options.host.timers, this.options.host.log);
  }

  /** Starts watching: the button's window, and the portal's triggers. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.button?.start();
    this.wifiChanged(this.options.wifi?.state ?? WifiState.IDLE);
  }

  stop(): void {
    this.running = false;
    this.button?.stop();
    this.clear("openTimer");
    this.clear("closeTimer");
    this.portal?.close();
  }

  /** The WiFi manager's state changed (its onState). */
  wifiChanged(state: WifiStateValue): void {
    const portal = this.portal;
    if (!this.running || portal === undefined) return;
    if (state === WifiState.ONLINE) {
      this.clear("openTimer");
      return;
    }
    if (portal.isOpen) {
      // Offline again before the portal closed (a factory reset, a lost link): it stays.
      if (this.closeTimer !== undefined) {
        this.clear("closeTimer");
        portal.online(false);
      }
      return;
    }
    if (this.options.wifi!.list.length === 0 && !this.options.wifi!.trying) {
      this.openPortal("no network to try");
      return;
    }
    if (this.openTimer === undefined) {
      this.openTimer = this.options.host.timers.set(() => {
        this.openTimer = undefined;
        this.openPortal(`not online for ${this.options.config.portalTimeoutMs} ms`);
      }, this.options.config.portalTimeoutMs);
    }
  }

  /** The device reached its server (the supervisor's onOpen). */
  linkOpened(): void {
    this.core.linkOpened();
    const portal = this.portal;
    if (portal === undefined || !portal.isOpen) return;
    portal.online(true);
    this.clear("closeTimer");
    this.closeTimer = this.options.host.timers.set(() => {
      this.closeTimer = undefined;
      portal.close();
      // Closed while WiFi is down again (rare): the usual trigger applies.
      if (this.running) this.wifiChanged(this.options.wifi?.state ?? WifiState.IDLE);
    }, this.options.closeDelayMs ?? PORTAL_CLOSE_DELAY_MS);
  }

  /** A connection or an attempt ended (the supervisor's onClose), in the client's words. */
  linkClosed(reason: string): void {
    this.core.linkClosed(reason);
  }

  /** Status's `provisioning` field; hello's too, once an outcome is known. */
  report(kind: "hello" | "status"): Record<string, unknown> {
    const last = this.core.last;
    if (kind === "hello") return last === undefined ? {} : { provisioning: { last: outcomeJson(last) } };
    const portal = this.portal?.address;
    return {
      provisioning: {
        state: this.core.state,
        portal: portal === undefined ? null : { url: `http://${portal.host}${portal.port === 80 ? "" : `:${portal.port}`}/` },
        last: last === undefined ? null : outcomeJson(last),
      },
    };
  }

  private openPortal(why: string): void {
    this.clear("openTimer");
    const portal = this.portal;
    if (portal === undefined || portal.isOpen || !this.running) return;
    this.options.host.log("info", "portal_opening", { reason: why });
    portal.open();
  }

  private clear(which: "openTimer" | "closeTimer"): void {
    const timer = this[which];
    if (timer !== undefined) this.options.host.timers.clear(timer);
    this[which] = undefined;
  }
}

/**
 * moorline-XXXX: the last two bytes of the MAC address in hex (as printed on many boards'
 * labels), or, where the MAC is unknown (the simulator), of a hash of the device's name.
 */
export function accessPointName(mac: string | undefined, deviceId: string): string {
  const match = typeof mac === "string" ? /([0-9A-Fa-f]{2})[:-]?([0-9A-Fa-f]{2})$/.exec(mac) : null;
  if (match !== null) return `moorline-${(match[1]! + match[2]!).toUpperCase()}`;
  // FNV-1a, 32 bits: a stable spread of the name, folded to 16.
  let hash = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) hash = Math.imul(hash ^ deviceId.charCodeAt(i), 0x01000193) >>> 0;
  return `moorline-${((hash ^ (hash >>> 16)) & 0xffff).toString(16).toUpperCase().padStart(4, "0")}`;
}

function outcomeJson(outcome: ProvisionOutcome): Record<string, unknown> {
  return {
    result: outcome.result,
    source: outcome.source,
    ...(outcome.ssid !== undefined ? { ssid: outcome.ssid } : {}),
    ...(outcome.url !== undefined ? { url: outcome.url } : {}),
    ...(outcome.detail !== undefined ? { detail: outcome.detail } : {}),
  };
}

function safeCall<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
