/**
 * The provisioning core's server link (src/provisioning/provisioner.ts ServerLink), played by a
 * test: it records the URLs and names it is given, checks URLs as the supervisor would
 * (the URL parser only), and is open when the test says so.
 */
import type { ServerLink } from "../../src/provisioning/provisioner.js";
import { parseWebSocketUrl } from "../../src/websocket/url.js";

export class PlayedLink implements ServerLink {
  open = false;
  /** Every setUrl(), in order. */
  readonly urls: string[] = [];
  /** Every rename(), in order. */
  readonly names: string[] = [];

  constructor(public url: string) {}

  /** A new URL closes the connection in place, as the supervisor's does. */
  setUrl(url: string): void {
    this.checkUrl(url);
    this.url = url;
    this.urls.push(url);
    this.open = false;
  }

  rename(deviceId: string): void {
    this.names.push(deviceId);
  }

  checkUrl(url: string): void {
    parseWebSocketUrl(url);
  }
}
