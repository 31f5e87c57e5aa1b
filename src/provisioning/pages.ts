/**
 * The setup page's HTML: small (it is built into the firmware's flash and sent over a
 * phone's first connection), no script at all (a captive portal's browser may run none;
 * progress shows by a meta refresh), every piece of text that did not come from this file
 * escaped (src/provisioning/form.ts escapeHtml): an SSID heard on the air, a URL, an error
 * message quoting what a user typed.
 */
import { escapeHtml } from "./form.js";

/** A network to choose, as the page lists it. */
export interface ListedNetwork {
  ssid: string;
  rssi: number;
  secure: boolean;
}

export interface SetupPageModel {
  /** The access point's name (moorline-XXXX), in the title. */
  title: string;
  /** Networks heard, strongest first. */
  networks: readonly ListedNetwork[];
  /** A scan is under way (the list refreshes by itself). */
  scanning: boolean;
  /** What the fields hold: what was typed, or the device's current settings. */
  values: { ssid: string; other: string; url: string; name: string };
  /** Messages by field name (ssid, password, url, name, form). */
  errors: ReadonlyMap<string, string>;
  /** A banner above the form: the last outcome. */
  notice?: { ok: boolean; text: string };
  /** Settings are being tried: the page says so and refreshes itself, instead of the form. */
  trying?: string;
}

/** Seconds between refreshes while something is under way. */
const REFRESH_SECONDS = 2;

const STYLE =
  "body{font:16px/1.4 system-ui,sans-serif;margin:0 auto;max-width:28em;padding:1em;color:#222}" +
  "h1{font-size:1.3em}fieldset{border:1px solid #ccc;border-radius:6px;margin:0 0 1em}" +
  "label{display:block;margin:.3em 0}.n{display:flex;gap:.5em;align-items:center}" +
  ".n span{margin-left:auto;color:#666;font-size:.85em}input[type=text],input[type=password],input[type=url]" +
  "{width:100%;box-sizing:border-box;padding:.4em;font:inherit}" +
  "button{font:inherit;padding:.5em 1.2em}.e{color:#b00020;font-size:.9em}" +
  ".ok,.bad{padding:.6em;border-radius:6px}.ok{background:#e6f4ea}.bad{background:#fdecea}";

/** Four bars, the lit ones by signal strength (dBm): -55 and above is excellent. */
export function signalBars(rssi: number): number {
  return rssi >= -55 ? 4 : rssi >= -67 ? 3 : rssi >= -75 ? 2 : 1;
}

function page(title: string, body: string, refresh = false): string {
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    (refresh ? `<meta http-equiv="refresh" content="${REFRESH_SECONDS}">` : "") +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`
  );
}

function fieldError(errors: ReadonlyMap<string, string>, field: string): string {
  const message = errors.get(field);
  return message === undefined ? "" : `<div class="e" id="${field}-error">${escapeHtml(message)}</div>`;
}

function invalid(errors: ReadonlyMap<string, string>, field: string): string {
  return errors.has(field) ? ` aria-invalid="true" aria-describedby="${field}-error"` : "";
}

/** The setup page: the networks heard, a password, the server and the device's name. */
export function setupPage(model: SetupPageModel): string {
  const { values, errors } = model;
  if (model.trying !== undefined) {
    return page(model.title, `<h1>Setting up the device</h1><p class="ok">${escapeHtml(model.trying)}</p><p>This page updates itself.</p>`, true);
  }
  let networks = "";
  let chosen = false;
  for (const network of model.networks) {
    const checked: boolean = network.ssid === values.ssid && !chosen;
    chosen ||= checked;
    const bars = signalBars(network.rssi);
    networks +=
      `<label class="n"><input type="radio" name="ssid" value="${escapeHtml(network.ssid)}"${checked ? " checked" : ""}>` +
      `${escapeHtml(network.ssid)}<span>${"\u2582\u2584\u2586\u2588".slice(0, bars)}${network.secure ? "" : " open"} ${network.rssi} dBm</span></label>`;
  }
  if (model.networks.length === 0) networks += `<p>${model.scanning ? "Looking for networks\u2026" : "No network heard."}</p>`;
  // A network chosen that the scan no longer lists stays chosen, under "Other".
  const other = chosen ? values.other : values.ssid || values.other;
  networks +=
    `<label class="n"><input type="radio" name="ssid" value=""${!chosen && other !== "" ? " checked" : ""}>Other:` +
    `<input type="text" name="other" maxlength="32" aria-label="Network name" value="${escapeHtml(other)}"></label>`;
  const notice = model.notice === undefined ? "" : `<p class="${model.notice.ok ? "ok" : "bad"}" role="status">${escapeHtml(model.notice.text)}</p>`;
  const body =
    `<h1>Set up ${escapeHtml(model.title)}</h1>${notice}${fieldError(errors, "form")}` +
    `<form method="post" action="/save">` +
    `<fieldset><legend>WiFi network</legend>${networks}${fieldError(errors, "ssid")}</fieldset>` +
    `<label>Password<input type="password" name="password" maxlength="64" autocomplete="off"${invalid(errors, "password")}></label>` +
    fieldError(errors, "password") +
    `<label>Server<input type="text" name="url" maxlength="512" inputmode="url" value="${escapeHtml(values.url)}"${invalid(errors, "url")}></label>` +
    fieldError(errors, "url") +
    `<label>Device name<input type="text" name="name" maxlength="64" value="${escapeHtml(values.name)}"${invalid(errors, "name")}></label>` +
    fieldError(errors, "name") +
    `<p><button type="submit">Connect</button></p></form>` +
    `<form method="post" action="/scan"><button type="submit">Scan again</button></form>`;
  return page(model.title, body, model.scanning);
}

/** The device is online: the access point closes soon. */
export function donePage(title: string, text: string): string {
  return page(title, `<h1>Done</h1><p class="ok" role="status">${escapeHtml(text)}</p><p>The setup network closes in a few seconds; the device carries on by itself.</p>`);
}

/** An error's page: the status and what was wrong. */
export function errorPage(status: number, message: string): string {
  return page(`Error ${status}`, `<h1>Error ${status}</h1><p class="bad">${escapeHtml(message)}</p><p><a href="/">Back to the setup page</a></p>`);
}
