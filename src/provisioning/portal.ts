/**
 * The captive portal: the device's own access point (moorline-XXXX), the setup page on its
 * HTTP server (http-server.ts) and a DNS server (dns.ts) that sends every name there.
 *
 * Routes (everything else on the portal's own host goes to "/", as a captive portal must):
 *   GET  /        the setup page (networks heard, password, server, name), or "trying",
 *                 or "done"; it refreshes itself while something is under way
 *   POST /save    the form: checked field by field (errors shown next to each field, 400),
 *                 then handed to the provisioning core (provisioner.ts), 303 to "/"
 *   POST /scan    a new scan, 303 to "/"
 * A request for another host (a phone's connectivity check: Android's /generate_204 at
 * connectivitycheck.gstatic.com, Apple's /hotspot-detect.html at captive.apple.com,
 * Windows' /connecttest.txt at www.msftconnecttest.com, Firefox's detectportal) is
 * redirected (302) to the page: each system then shows its "sign in to network" sheet (none
 * of them gets the answer it expects when online: a 204, "Success", "Microsoft Connect
 * Test"). Any other path, on the portal's own address too, is redirected to "/". The page is
 * served to the access point's address and to any IP address with the portal's port (a user
 * who typed the device's address; the desktop's own in the simulator), never to a name. A
 * POST must come from the page itself: a name as Host, or an Origin other than the Host,
 * gets 403.
 */
import type { Log, TcpListenerConstructor, TimerId, Timers, UdpSocketConstructor, WifiDriver, WifiScanResult } from "../shared/host.js";
import { ProvisionError } from "../shared/errors.js";
import { DnsServer } from "./dns.js";
import { decodeForm } from "./form.js";
import type { HttpRequest, HttpRequestError } from "./http-request.js";
import { HttpServer, type HttpResponse, type HttpServerLimits } from "./http-server.js";
import { donePage, errorPage, setupPage, type ListedNetwork } from "./pages.js";
import type { Candidate, Provisioner } from "./provisioner.js";

/** Networks listed at most (strongest first): a crowded place hears dozens. */
export const MAX_LISTED_NETWORKS = 16;
/** A scan that has not answered after this long is given up, ms (the ESP32 takes 2-4 s). */
export const SCAN_TIMEOUT_MS = 15_000;
/** The access point's address when the driver does not say (the ESP32's default). */
const DEFAULT_AP_ADDRESS = "192.168.4.1";

export interface PortalOptions {
  driver: WifiDriver;
  listener: TcpListenerConstructor;
  /** The DNS server's sockets; absent: no DNS server (the page is still at the address). */
  udp?: UdpSocketConstructor;
  timers: Timers;
  log: Log;
  provisioner: Provisioner;
  /** The server's URL in use (the form shows it). */
  currentUrl(): string;
  /**
   * The access point's name, asked for when the portal opens (a chip's MAC may be known only
   * once its radio is on).
   */
  apName: () => string;
  /** "" for an open access point. */
  apPassword: string;
  httpPort: number;
  /** 0: no DNS server. */
  dnsPort: number;
  httpLimits?: Partial<HttpServerLimits>;
}

export class Portal {
  private readonly options: PortalOptions;
  private http: HttpServer | undefined;
  private dns: DnsServer | undefined;
  private apAddress = DEFAULT_AP_ADDRESS;
  private networks: ListedNetwork[] = [];
  private scanning = false;
  private scanTimer: TimerId | undefined;
  private scanToken = 0;
  /** What the form held at the last submission (never the password). */
  private submitted: { ssid: string; other: string; url: string; name: string } | undefined;
  /** The access point's name, from the last open(). */
  private name = "";
  /** The device reached its server: the page says "done" until the portal closes. */
  private done = false;

  constructor(options: PortalOptions) {
    this.options = options;
  }

  get isOpen(): boolean {
    return this.http !== undefined;
  }

  /** Where the page is: the access point's address and the HTTP port. */
  get address(): { host: string; port: number } | undefined {
    return this.http === undefined ? undefined : { host: this.apAddress, port: this.http.port };
  }

  /**
   * Opens the access point, the HTTP and DNS servers, and scans. Returns false (and leaves
   * everything closed, with a log line) when the radio or a port refuses.
   */
  open(): boolean {
    if (this.http !== undefined) return true;
    const { driver, log, apPassword } = this.options;
    this.done = false;
    try {
      this.name = this.options.apName();
      driver.startAccessPoint!({ ssid: this.name, password: apPassword });
      this.apAddress = driver.accessPointAddress?.() ?? DEFAULT_AP_ADDRESS;
      this.http = new HttpServer({
        listener: this.options.listener,
        timers: this.options.timers,
        port: this.options.httpPort,
        address: this.apAddress,
        log,
        ...(this.options.httpLimits ? { limits: this.options.httpLimits } : {}),
        handle: (request) => this.handle(request),
        errorPage: (error) => this.errorResponse(error),
      });
      if (this.options.udp !== undefined && this.options.dnsPort > 0) {
        this.dns = new DnsServer({
          udp: this.options.udp,
          timers: this.options.timers,
          port: this.options.dnsPort,
          address: this.apAddress,
          answer: () => this.apAddress,
          log,
        });
      }
    } catch (error) {
      log("error", "portal_open_failed", { error });
      this.close();
      return false;
    }
    log("warn", "portal_open", {
      ssid: this.name,
      open: apPassword === "",
      url: `http://${this.authority()}/`,
      dns: this.dns !== undefined ? this.options.dnsPort : null,
    });
    this.scan();
    return true;
  }

  /** Closes the servers and the access point (the station is not affected). */
  close(): void {
    const wasOpen = this.http !== undefined;
    this.http?.close();
    this.http = undefined;
    this.dns?.close();
    this.dns = undefined;
    this.scanToken++;
    this.scanning = false;
    if (this.scanTimer !== undefined) this.options.timers.clear(this.scanTimer);
    this.scanTimer = undefined;
    try {
      this.options.driver.stopAccessPoint?.();
    } catch (error) {
      this.options.log("error", "portal_close_failed", { error });
    }
    if (wasOpen) this.options.log("info", "portal_closed", {});
  }

  /** The device reached its server (the page says so; the caller closes the portal soon), or lost it again. */
  online(reached: boolean): void {
    this.done = reached;
  }

  /** After a factory reset: the form shows the device's settings again, not what was typed. */
  forget(): void {
    this.submitted = undefined;
    this.done = false;
  }

  /** Starts a scan (one at a time); the list is replaced when it answers. */
  scan(): void {
    const driver = this.options.driver;
    if (this.scanning || driver.scan === undefined) return;
    this.scanning = true;
    const token = ++this.scanToken;
    this.scanTimer = this.options.timers.set(() => this.scanned(token, undefined, "no answer in time"), SCAN_TIMEOUT_MS);
    try {
      driver.scan((networks, error) => this.scanned(token, networks, error));
    } catch (error) {
      this.scanned(token, undefined, error instanceof Error ? error.message : String(error));
    }
  }

  private scanned(token: number, heard: WifiScanResult[] | undefined, error: string | undefined): void {
    if (token !== this.scanToken || !this.scanning) return;
    this.scanning = false;
    if (this.scanTimer !== undefined) this.options.timers.clear(this.scanTimer);
    this.scanTimer = undefined;
    if (heard === undefined) {
      this.options.log("warn", "portal_scan_failed", { error: error ?? "scan failed" });
      return;
    }
    this.networks = strongestFirst(heard);
    this.options.log("info", "portal_scan", { networks: this.networks.length });
  }

  // --- HTTP -------------------------------------------------------------------------------

  /** host[:port] of the page, as a browser writes it in Host and Origin. */
  private authority(): string {
    const port = this.http?.port ?? this.options.httpPort;
    return port === 80 ? this.apAddress : `${this.apAddress}:${port}`;
  }

  /** Answers one request (HttpServer's handler). */
  handle(request: HttpRequest): HttpResponse {
    const { method, path } = request;
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      return { ...this.errorResponse({ status: 405, message: `${method} is not served here` }), headers: [["Allow", "GET, HEAD, POST"]] };
    }
    const authority = this.authority();
    const host = request.host ?? authority;
    // The page's own address, or any IP address of the device with its port (in the
    // simulator the desktop's, 127.0.0.1 included): a name that is not ours is a probe.
    const ours = host === authority || this.isOwnAddress(host);
    if (method === "POST") {
      if (!ours || (request.origin !== "" && request.origin !== `http://${host}`)) {
        return this.errorResponse({ status: 403, message: "the setup form can only be sent from the setup page" });
      }
      if (path === "/save") return this.save(request);
      if (path === "/scan") {
        this.scan();
        return seeOther("/");
      }
      return this.errorResponse({ status: 404, message: "nothing to post here" });
    }
    if (!ours || path !== "/") {
      return { status: 302, headers: [["Location", `http://${authority}/`]], body: "" };
    }
    return { status: 200, body: this.page(new Map()) };
  }

  /** An IPv4 address with the portal's port (none for 80): someone addressing the device directly. */
  private isOwnAddress(host: string): boolean {
    const port = this.http?.port ?? this.options.httpPort;
    const match = /^(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?::([0-9]{1,5}))?$/.exec(host);
    return match !== null && (match[1] === undefined ? port === 80 : Number(match[1]) === port);
  }

  private page(errors: ReadonlyMap<string, string>): string {
    const provisioner = this.options.provisioner;
    const title = this.name || this.options.apName();
    const last = provisioner.last;
    if (this.done && last?.result === "online") return donePage(title, last.message);
    const trying = provisioner.trying;
    const values = this.submitted ?? { ssid: "", other: "", url: this.options.currentUrl(), name: provisioner.name };
    return setupPage({
      title,
      networks: this.networks,
      scanning: this.scanning,
      values,
      errors,
      ...(last !== undefined && errors.size === 0 ? { notice: { ok: last.result === "online", text: last.message } } : {}),
      ...(trying !== undefined ? { trying: provisioner.state === "joining" ? `Joining "${trying.ssid}"\u2026` : `Connecting to the server at ${trying.url ?? this.options.currentUrl()}\u2026` } : {}),
    });
  }

  private save(request: HttpRequest): HttpResponse {
    const type = request.contentType.split(";")[0]!.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") {
      return this.errorResponse({ status: 415, message: "the form must be sent as application/x-www-form-urlencoded" });
    }
    const form = decodeForm(request.body);
    if (!form.ok) return { status: 400, body: this.page(new Map([["form", `The form could not be read: ${form.message}.`]])) };
    const field = (name: string): string => form.fields.get(name) ?? "";
    const chosen = field("ssid");
    const values = { ssid: chosen, other: field("other"), url: field("url"), name: field("name") };
    this.submitted = values;
    const ssid = chosen !== "" ? chosen : values.other;
    const errors = new Map<string, string>();
    const candidate: Candidate = { url: values.url, deviceId: values.name };
    if (ssid === "") errors.set("ssid", "Choose a network, or type the name of another one.");
    else candidate.network = { ssid, password: field("password") };
    // Each part on its own, so every mistake is shown at once.
    const provisioner = this.options.provisioner;
    for (const part of [{ network: candidate.network }, { url: values.url }, { deviceId: values.name }] as Candidate[]) {
      if (Object.values(part)[0] === undefined) continue;
      try {
        provisioner.check(part);
      } catch (error) {
        if (!(error instanceof ProvisionError)) throw error;
        errors.set(error.field, sentence(error.message));
      }
    }
    if (errors.size > 0) return { status: 400, body: this.page(errors) };
    provisioner.apply(candidate, "portal");
    return seeOther("/");
  }

  private errorResponse(error: HttpRequestError): HttpResponse {
    return { status: error.status, body: errorPage(error.status, sentence(error.message)) };
  }
}

/** Each SSID once (its strongest signal), hidden ones left out, strongest first, at most MAX_LISTED_NETWORKS. */
export function strongestFirst(heard: readonly WifiScanResult[]): ListedNetwork[] {
  const best = new Map<string, ListedNetwork>();
  for (const network of heard) {
    if (typeof network?.ssid !== "string" || network.ssid === "" || typeof network.rssi !== "number") continue;
    const known = best.get(network.ssid);
    if (known === undefined || network.rssi > known.rssi) best.set(network.ssid, { ssid: network.ssid, rssi: network.rssi, secure: network.secure !== false });
  }
  return Array.from(best.values())
    .sort((a, b) => b.rssi - a.rssi)
    .slice(0, MAX_LISTED_NETWORKS);
}

function seeOther(location: string): HttpResponse {
  return { status: 303, headers: [["Location", location]], body: "" };
}

/** A message as a sentence: capital first, full stop last. */
function sentence(text: string): string {
  const trimmed = text.replace(/[.\s]+$/, "");
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1) + ".";
}
