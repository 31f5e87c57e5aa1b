/**
 * What the Improv service (improv-service.ts) needs of the device's provisioning, as a small
 * interface, and its implementation over the provisioning core (provisioner.ts), the one the
 * setup page and the server's requests use too: the network is tried alone (WifiManager.trial)
 * and saved only once it has given the device an address, so settings that do not work never
 * replace ones that did, and the core's status and hello report how it went (source "improv").
 */
import type { WifiDriver, WifiNetwork, WifiScanResult } from "../shared/host.js";
import { ProvisionError, ProvisionErrorCode } from "../shared/errors.js";
import type { WifiManager } from "../device/wifi.js";
import type { Provisioner, ProvisionResult as CoreResult } from "./provisioner.js";

/**
 * How provisioning a network ended: "joined" (it gave an address and is saved), why it did
 * not, "invalid" (settings no network can have: an SSID over 32 bytes, a WPA2 passphrase of
 * 7 characters...) or "failed" (anything else: the device cannot try networks now, a newer
 * provisioning came first). `detail` says more, for logs; it never holds the password.
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
  /** The device's provisioning core (Provisioning.core). */
  core: Provisioner;
  /** The device's WiFi manager; undefined when the device runs without one (its link is always up). */
  wifi: WifiManager | undefined;
  driver: WifiDriver;
  /**
   * The redirect URL once online, "" for none; "{address}" in it becomes the station's IP
   * address (no URL while the address is unknown).
   */
  redirectUrl?: string;
}

/** The core's outcomes that are a network's failure, as Improv reports them; any other is "failed". */
const RESULTS: Readonly<Partial<Record<CoreResult, ProvisionResult>>> = Object.freeze({
  online: "joined",
  wrong_password: "wrong_password",
  ap_not_found: "network_not_found",
  timeout: "timeout",
});

/** The ImprovProvisioning of a device: networks go through its provisioning core. */
export function createWifiProvisioning(options: WifiProvisioningOptions): ImprovProvisioning {
  const { core, wifi, driver } = options;
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
      let done = false;
      const answer = (result: ProvisionResult, detail?: string): void => {
        if (done) return;
        done = true;
        onResult(result, detail);
      };
      try {
        // Joined is Improv's "provisioned": the core goes on to reach the server meanwhile.
        core.apply({ network }, "improv", {
          onJoined: () => answer("joined"),
          onOutcome: (outcome) => answer(RESULTS[outcome.result] ?? "failed", outcome.message),
        });
      } catch (error) {
        // The core's checks refuse settings no network can have (ssid, password) as
        // ProvisionErrors; anything else (no WiFi to manage, a failure) is no fault of theirs.
        const invalid = error instanceof ProvisionError && error.code !== ProvisionErrorCode.NO_WIFI;
        answer(invalid ? "invalid" : "failed", (error as Error).message);
      }
    },
  };
  if (typeof driver.scan === "function") provisioning.scan = (onResult) => driver.scan!(onResult);
  return provisioning;
}
