/**
 * The server's provisioning requests (docs/protocol.md): the saved networks, the server's
 * URL and the device's name, and a factory reset, through the same core as the setup page
 * (provisioner.ts), with the same checks and the same rule: new settings are kept only once
 * they have proved themselves.
 *
 *   {"type":"wifi","action":"list"}
 *   {"type":"wifi","action":"add","ssid":S,"password":P}            saved, tried when others fail
 *   {"type":"wifi","action":"add","ssid":S,"password":P,"use":true} moved to it now (a trial)
 *   {"type":"wifi","action":"remove","ssid":S}
 *   {"type":"server","action":"get"}
 *   {"type":"server","action":"set","url":U,"name":N}               a trial (url, name or both)
 *   {"type":"factory_reset","confirm":true}
 *
 * A trial leaves the connection the request came on (a new network, a new server), so its
 * reply only says it has begun; the input is checked first, and a refusal is the reply's
 * error (bad_request, in_use, not_found, read_only, no_wifi). How the trial went reaches the
 * server in the next hello, and in status: `provisioning.last`.
 */
import { defineHandler, type RequestHandler } from "../device/handlers.js";
import { describe, RequestErrorCode, requestError } from "../shared/errors.js";
import type { Log, Timers } from "../shared/host.js";
import type { Candidate, Provisioner } from "./provisioner.js";

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

/** A string field, or undefined when absent; anything else is a bad_request naming it. */
function stringField(message: Readonly<Record<string, unknown>>, type: string, name: string, required: boolean): string | undefined {
  const value = message[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string") {
    throw requestError(RequestErrorCode.BAD_REQUEST, `${type} needs "${name}" (a string), got ${value === undefined ? "none" : describe(name === "password" ? typeof value : value)}`);
  }
  return value;
}

function actionOf(message: Readonly<Record<string, unknown>>, type: string, actions: readonly string[]): string {
  const action = message.action;
  if (typeof action !== "string" || !actions.includes(action)) {
    throw requestError(RequestErrorCode.BAD_REQUEST, `${type} needs "action": ${actions.map((a) => `"${a}"`).join(", ")}`);
  }
  return action;
}

/**
 * The handlers, by type; `later` runs a trial once the reply has gone (a timer of 0 ms). The
 * input was checked by then; a throw that still comes (a bug) is logged, never let into the
 * timer.
 */
export function provisioningHandlers(core: Provisioner, timers: Timers, log: Log): Record<string, RequestHandler> {
  const later = (run: () => void): void => {
    timers.set(() => {
      try {
        run();
      } catch (error) {
        log("error", "provision_request_failed", { error });
      }
    }, 0);
  };
  const listed = (): Record<string, unknown> => ({ networks: core.networks() });

  const wifi = defineHandler({
    parse(message) {
      const action = actionOf(message, "wifi", ["list", "add", "remove"]);
      if (action === "list") return { action };
      const ssid = stringField(message, "wifi", "ssid", true)!;
      if (action === "remove") return { action, ssid };
      const password = stringField(message, "wifi", "password", false) ?? "";
      if (hasOwn(message, "use") && typeof message.use !== "boolean") {
        throw requestError(RequestErrorCode.BAD_REQUEST, `wifi add's "use" must be true or false`);
      }
      return { action, ssid, password, use: message.use === true };
    },
    handle(request: { action: string; ssid?: string; password?: string; use?: boolean }) {
      if (request.action === "list") return listed();
      const ssid = request.ssid!;
      if (request.action === "remove") {
        core.forgetNetwork(ssid);
        return { removed: ssid, ...listed() };
      }
      const network = { ssid, password: request.password! };
      if (!request.use) {
        core.saveNetwork(network);
        return { saved: ssid, ...listed() };
      }
      core.check({ network });
      later(() => core.apply({ network }, "server"));
      return { trying: { ssid } };
    },
  });

  const server = defineHandler({
    parse(message) {
      const action = actionOf(message, "server", ["get", "set"]);
      if (action === "get") return { action };
      const url = stringField(message, "server", "url", false);
      const name = stringField(message, "server", "name", false);
      if (url === undefined && name === undefined) throw requestError(RequestErrorCode.BAD_REQUEST, 'server set needs "url", "name" or both');
      return { action, url, name };
    },
    handle(request: { action: string; url?: string; name?: string }) {
      if (request.action === "get") return { url: core.url, name: core.name };
      const candidate: Candidate = {
        ...(request.url !== undefined ? { url: request.url } : {}),
        ...(request.name !== undefined ? { deviceId: request.name } : {}),
      };
      const changes = core.check(candidate);
      if (changes.url === undefined && changes.deviceId === undefined) return { unchanged: true };
      later(() => core.apply(changes, "server"));
      return { trying: { ...(changes.url !== undefined ? { url: changes.url } : {}), ...(changes.deviceId !== undefined ? { name: changes.deviceId } : {}) } };
    },
  });

  const factoryReset = defineHandler({
    parse(message) {
      if (message.confirm !== true) {
        throw requestError(RequestErrorCode.BAD_REQUEST, 'factory_reset erases every saved setting: send "confirm": true');
      }
      return true;
    },
    handle() {
      later(() => core.factoryReset("server"));
      return { reset: true };
    },
  });

  return { wifi, server, factory_reset: factoryReset };
}
