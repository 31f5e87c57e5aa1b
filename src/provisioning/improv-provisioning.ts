/**
 * What the Improv service (improv-service.ts) needs of the device's provisioning, as a small
 * interface, and one implementation of it over the WiFi manager and storage of
 * src/device/wifi.ts: try the network at once (WifiManager.join), save it (saveNetwork) only
 * once it has given the device an address, so settings that do not work never replace ones
 * that did.
 *
 * The interface is what any provisioning core offers (the setup portal's does the same:
 * save, try, report joined / wrong password / network not found), so the service does not
 * care which one is behind it.
 */
import type { Log, Storage, WifiDriver, WifiNetwork, WifiScanResult } from "../shared/host.js";
import { ErrorCode, WebSocketError } from "../shared/errors.js";
import { saveNetwork, type WifiJoinOutcome, type WifiManager } from "../device/wifi.js";

/**
 * How provisioning a network ended: "joined" (it gave an address and is saved), why it did
 * not, "invalid" (settings no network can have: an SSID over 32 bytes...) or "failed"
 * (anything else: the device cannot try networks now). `detail` says more, for logs; it
 * never holds the password.
 */
export type ProvisionResult = "joined" | "wrong_password" | "network_not_found" | "timeout" | "invalid" | "failed";

export interface ImprovProvisioning {
  /** The device is on a network now (Improv's "provisioned"). */
  online(): boolean;
  /** Where a user goes once the device is online (Improv's redirect URL), if anywhere. */
  redirectUrl(): string | undefined;
  /**
   * Tries `network` and keeps it only once it works. `onResult` is called exactly once, now
   * or later (a join takes seconds).
   */
  provisionWifi(network: WifiNetwork, onResult: (result: ProvisionResult, detail?: string) => void): void;
  /**
   * Present when the WiFi driver can scan: the networks in range. `onResult` is called once,
   * later, with them (any order, duplicates possible) or with undefined and a message.
   */
  scan?: (onResult: (networks: WifiScanResult[] | undefined, error?: string) => void) => void;
}

export interface WifiProvisioningOptions {
  /** The device's WiFi manager; undefined when the device runs without one (its link is always up). */
  wifi: WifiManager | undefined;
  driver: WifiDriver;
  storage: Storage;
  log?: Log;
  /**
   * The redirect URL once online, "" for none; "{address}" in it becomes the station's IP
   * address (no URL while the address is unknown).
   */
  redirectUrl?: string;
}

/** join()'s failures, as provisioning reports them. */
const RESULTS: Readonly<Record<Exclude<WifiJoinOutcome, "online">, ProvisionResult>> = Object.freeze({
  wrong_password: "wrong_password",
  ap_not_found: "network_not_found",
  timeout: "timeout",
  link_lost: "failed",
  stopped: "failed",
});

/** The ImprovProvisioning of a device whose networks are the WiFi manager's. */
export function createWifiProvisioning(options: WifiProvisioningOptions): ImprovProvisioning {
  const { wifi, driver, storage, log } = options;
  const template = options.redirectUrl ?? "";
  const provisioning: ImprovProvisioning = {
    online: () => wifi?.online === true,
    redirectUrl() {
      if (template === "" || wifi?.online !== true) return undefined;
      if (!template.includes("{address}")) return template;
      const address = driver.address();
      return address === undefined ? undefined : template.split("{address}").join(address);
    },
    provisionWifi(network, onResult) {
      if (wifi === undefined) {
        onResult("failed", "this device runs without WiFi management (started with no network: --no-wifi)");
        return;
      }
      try {
        wifi.join(network, (outcome) => {
          if (outcome !== "online") {
            onResult(RESULTS[outcome], outcome);
            return;
          }
          try {
            saveNetwork(storage, network);
          } catch (error) {
            // Joined all the same: the network works for this run, and the user is told.
            log?.("error", "wifi_save_failed", { ssid: network.ssid, error });
            onResult("joined", "joined, but the network could not be saved: it is lost at the next restart");
            return;
          }
          log?.("info", "wifi_saved", { ssid: network.ssid });
          onResult("joined");
        });
      } catch (error) {
        const invalid = error instanceof WebSocketError && error.code === ErrorCode.INVALID_ARGUMENT;
        onResult(invalid ? "invalid" : "failed", (error as Error).message);
      }
    },
  };
  if (typeof driver.scan === "function") provisioning.scan = (onResult) => driver.scan!(onResult);
  return provisioning;
}
