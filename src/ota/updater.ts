/**
 * Firmware updates on the device (docs/ota.md): the `ota_offer` request, the chunks that
 * follow, and the new image's trial.
 *
 * An offer is refused before any byte flows when its signature is not the owner's (the key
 * built into the firmware, config otaPublicKey), its manifest is not one this firmware reads,
 * its target is not this platform's, its version is not newer (unless the build allows a
 * downgrade), this very image was rolled back before, it does not fit the slot, or the
 * application's policy says no (a low battery, say). Safe mode takes updates: it is how a
 * broken firmware gets fixed. Accepted, the image flows one chunk at a time (the device asks
 * for the next with its `ota` progress message), is written to the other slot and hashed as it
 * comes, checkpointed every checkpointBytes, and, complete, checked against the manifest's size
 * and SHA-256 before it is made the image to boot. Then the device restarts into it.
 *
 * The new image boots on trial: it must reach its server (the connection proves stable, the
 * notion that also marks a boot good in src/health) and pass the self-check within confirmMs,
 * or it rolls itself back; a crash or a watchdog reset before that is rolled back by the
 * platform's boot loader. The boot after a rollback reports it, with why, in hello (`ota`).
 */
import { decodeBase64 } from "../websocket/base64.js";
import { encodeUtf8 } from "../websocket/utf8.js";
import { describe, RequestErrorCode, requestError } from "../shared/errors.js";
import type { FirmwareHost, Log, Storage, Timers } from "../shared/host.js";
import { defineHandler, type RequestHandler } from "../device/handlers.js";
import { compareVersions, keyId, MAX_MANIFEST_BYTES, parseManifest, type ImageManifest } from "./manifest.js";
import { OTA_MESSAGE, OtaRefusal, readChunk, type OtaRefusalCode } from "./protocol.js";
import { OtaRecordKey, OtaRecords, MAX_REASON_CHARS, type ResultRecord, type TrialRecord } from "./records.js";
import { Sha256, sha256 } from "./sha256.js";
import { Transfer } from "./transfer.js";

/** A transfer that receives nothing for this long while connected is paused (and resumes at the next offer), ms. */
export const OTA_STALL_MS = 60_000;
/** How often a transfer's offset is made durable, bytes (a multiple of any store's block). */
export const DEFAULT_CHECKPOINT_BYTES = 64 * 1024;
/** A progress message the send buffer refused is tried again after this, ms. */
const PROGRESS_RETRY_MS = 200;
/** Bytes of a signature: r || s of P-256. */
const SIGNATURE_BYTES = 64;
/** Bytes of a raw P-256 public key: 0x04 || x || y. */
export const PUBLIC_KEY_BYTES = 65;
/** An application policy's refusal code: a lower-case word. */
const POLICY_CODE = /^[a-z][a-z0-9_]{0,31}$/;

export interface UpdaterOptions {
  firmware: FirmwareHost;
  storage: Storage;
  timers: Timers;
  log: Log;
  /** The running firmware's version. */
  version: string;
  /** The owner's key (65 bytes, uncompressed P-256); undefined: every offer is refused (no_key). */
  publicKey: Uint8Array | undefined;
  allowDowngrade: boolean;
  /** How long a new image has to confirm itself, ms. */
  confirmMs: number;
  /** Largest chunk asked for, bytes. */
  chunkBytes: number;
  checkpointBytes?: number;
  /** Sends a text message to the server; false when it could not. */
  send(text: string): boolean;
  /** Restarts the device cleanly (`before` runs last); false where the platform cannot restart. */
  restart(reason: string, before?: () => void): boolean;
  /** Refuses an offer with a code of the application's ("low_battery"), or undefined to go on. */
  policy?: ((offer: { version: string; size: number }) => string | undefined) | undefined;
  /** The application's self-check of a new image: undefined when it passed, else why not. */
  selfCheck?: (() => string | undefined) | undefined;
  /** A transfer ended without a restart (refused, paused): what waited for it may go on. */
  onIdle?: () => void;
}

interface Offer {
  manifestText: string;
  signature: Uint8Array;
}

type State = "idle" | "preparing" | "downloading" | "paused" | "installed";

export class Updater {
  private readonly options: UpdaterOptions;
  private readonly records: OtaRecords;
  private readonly checkpointBytes: number;
  private state: State = "idle";
  private transfer: Transfer | undefined;
  /** This boot runs a new image on trial. */
  private trial: TrialRecord | undefined;
  private confirmTimer: unknown;
  private stallTimer: unknown;
  private retryTimer: unknown;
  /** The last update's outcome (records.ts). */
  private result: ResultRecord | undefined;
  /** The connection is up (connected() / disconnected()): a cue can reach the server. */
  private linkUp = true;

  constructor(options: UpdaterOptions) {
    this.options = options;
    this.records = new OtaRecords(options.storage, options.log);
    this.checkpointBytes = options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES;
    this.result = this.records.result();
    this.settleLastUpdate();
    const paused = this.records.transfer();
    if (paused && this.trial === undefined) this.state = "paused";
  }

  /** The ota_offer request's handler. */
  get handler(): RequestHandler<Offer, Record<string, unknown>> {
    return defineHandler({ parse: (message) => parseOffer(message), handle: (offer) => this.offer(offer) });
  }

  /** An update is being received: a restart (leaving safe mode) should wait for it. */
  get busy(): boolean {
    return this.state === "preparing" || this.state === "downloading";
  }

  /** Starts the trial's deadline, on a boot of a new image. */
  start(): void {
    if (this.trial === undefined) return;
    const { confirmMs, timers, log } = this.options;
    log("warn", "ota_trial", { version: this.options.version, from: this.trial.from, confirmMs });
    this.confirmTimer = timers.set(() => this.giveUp("not_confirmed", `no stable connection to the server within ${confirmMs} ms`), confirmMs);
  }

  stop(): void {
    const { timers } = this.options;
    timers.clear(this.confirmTimer);
    timers.clear(this.stallTimer);
    timers.clear(this.retryTimer);
    // Checkpointed for the next start; nothing waits for it now (the device is stopping).
    if (this.transfer && this.state === "downloading") this.pause("stopped", false);
  }

  /** The connection proved stable: a new image on trial has reached its server. */
  connectionStable(): void {
    const trial = this.trial;
    if (trial === undefined) return;
    const { firmware, log, timers } = this.options;
    let problem: string | undefined;
    try {
      problem = this.selfCheck(trial);
    } catch (error) {
      problem = `the self-check threw: ${String(error)}`;
    }
    if (problem !== undefined) {
      this.giveUp("self_check_failed", problem);
      return;
    }
    try {
      firmware.store.markValid();
    } catch (error) {
      // Not confirmed: the next reset rolls it back, which is the safe side.
      log("error", "ota_confirm_failed", { error: String(error) });
      return;
    }
    timers.clear(this.confirmTimer);
    this.trial = undefined;
    this.setResult({ state: "updated", version: trial.version, sha256: trial.sha256, from: trial.from });
    this.records.delete(OtaRecordKey.TRIAL);
    log("info", "ota_confirmed", { version: trial.version, from: trial.from });
  }

  /** A connection opened. */
  connected(): void {
    this.linkUp = true;
  }

  /** The connection ended: a transfer pauses (checkpointed) and resumes at the next offer. */
  disconnected(): void {
    this.linkUp = false;
    if (this.state === "downloading") this.pause("disconnected");
  }

  /** A binary message: true when it was a chunk of ours (else the JSON loop echoes it). */
  receiveBinary(bytes: Uint8Array): boolean {
    const chunk = readChunk(bytes);
    if (chunk === undefined) return false;
    const transfer = this.transfer;
    if (transfer === undefined || this.state !== "downloading") {
      this.options.log("warn", "ota_chunk_unexpected", { offset: chunk.offset, bytes: chunk.data.length, state: this.state });
      return true;
    }
    this.watchStall();
    const { offset, data } = chunk;
    if (offset !== transfer.offset) {
      // A chunk from before a resume, or a server that lost count: say where we are.
      this.options.log("warn", "ota_chunk_out_of_order", { offset, expected: transfer.offset });
      this.progress();
      return true;
    }
    if (data.length === 0) {
      this.refuseTransfer(OtaRefusal.TRUNCATED, `the image ended after ${offset} of its ${transfer.size} bytes`);
      return true;
    }
    if (data.length > this.options.chunkBytes || offset + data.length > transfer.size) {
      const past = offset + data.length > transfer.size;
      this.refuseTransfer(
        OtaRefusal.TOO_LARGE,
        past ? `the image goes on past the manifest's size (${transfer.size} bytes)` : `a chunk of ${data.length} bytes is larger than the ${this.options.chunkBytes} asked for`,
      );
      return true;
    }
    try {
      transfer.append(data);
    } catch (error) {
      this.refuseTransfer(OtaRefusal.WRITE_FAILED, `writing at ${offset} failed: ${String(error)}`);
      return true;
    }
    if (transfer.complete) {
      this.finish(transfer);
      return true;
    }
    if (transfer.offset - transfer.checkpointed >= this.checkpointBytes) this.checkpoint(transfer);
    this.progress();
    return true;
  }

  /** hello's `ota`: only when there is something to say (a transfer, a trial, the last outcome). */
  hello(): Record<string, unknown> {
    const ota = this.report();
    return ota === undefined ? {} : { ota };
  }

  status(): Record<string, unknown> {
    const store = this.options.firmware.store;
    return { ota: { state: this.state, target: store.target, capacity: store.capacity, ...this.report() } };
  }

  // -------------------------------------------------------------------------------------

  private report(): Record<string, unknown> | undefined {
    if (this.trial) return { state: "trial", version: this.trial.version, from: this.trial.from };
    const transfer = this.transfer;
    if (transfer && this.state !== "idle") {
      return { state: this.state, version: transfer.manifest.version, offset: transfer.offset, size: transfer.size };
    }
    const paused = this.state === "paused" ? this.records.transfer() : undefined;
    if (paused) return { state: "paused", version: paused.version, offset: paused.offset, size: paused.size };
    if (this.result) {
      const { sha256: _digest, ...shown } = this.result;
      return shown;
    }
    return undefined;
  }

  /**
   * At boot: was the last update confirmed, rolled back, or is this boot its trial? The trial
   * record says which image was installed; the running version says whether it is running.
   */
  private settleLastUpdate(): void {
    const { firmware, log, version } = this.options;
    const trial = this.records.trial();
    let running;
    try {
      running = firmware.store.running();
    } catch (error) {
      log("error", "ota_state_unreadable", { error: String(error) });
      return;
    }
    if (running.pending) {
      // A record lost to a failing store: the trial goes on all the same, from an unknown version.
      this.trial = trial ?? { version, sha256: "0".repeat(64), from: version };
      return;
    }
    if (trial === undefined) return;
    this.records.delete(OtaRecordKey.TRIAL);
    if (trial.version === version) {
      // Confirmed by an earlier boot that could not delete the record.
      this.setResult({ state: "updated", version: trial.version, sha256: trial.sha256, from: trial.from });
      return;
    }
    const reason = trial.reason ?? running.rollback?.reason ?? "unknown";
    const detail = trial.detail ?? running.rollback?.detail;
    const result: ResultRecord = { state: "rolled_back", version: trial.version, sha256: trial.sha256, from: trial.from, reason };
    if (detail !== undefined) result.detail = clip(detail);
    this.setResult(result);
    log("error", "ota_rolled_back", { version: trial.version, running: version, reason, ...(detail !== undefined ? { detail: clip(detail) } : {}) });
  }

  /**
   * Accepts an offer at once (the reply names the offset to go on from); the device then asks
   * for each chunk with its progress message, the first one included, once it is ready: after
   * a reboot, what the slot holds is hashed again first, a slice per turn of the event loop.
   */
  private offer(offer: Offer): Record<string, unknown> {
    const manifest = this.check(offer);
    const { log, chunkBytes, timers } = this.options;
    if (this.state === "preparing") throw requestError(RequestErrorCode.BUSY, "an offer is being prepared; offer again in a moment");
    if (this.state === "installed") throw requestError(RequestErrorCode.BUSY, "an update is installed: the device is restarting into it");
    const transfer = this.transfer;
    if (transfer && transfer.manifest.sha256 === manifest.sha256) {
      // The same image, still in RAM (this boot): on from the exact offset.
      this.state = "downloading";
      this.watchStall();
      log("info", "ota_resume", { version: manifest.version, offset: transfer.offset, size: transfer.size });
      timers.set(() => this.progress(), 0);
      return { accepted: true, offset: transfer.offset, chunkBytes, size: transfer.size };
    }
    this.transfer = undefined;
    const record = this.records.transfer();
    const resumeAt = record && record.sha256 === manifest.sha256 && record.size === manifest.size ? record.offset : 0;
    if (record && resumeAt === 0) this.records.delete(OtaRecordKey.TRANSFER);
    this.state = "preparing";
    let synchronous = true;
    let failure: Error | undefined;
    Transfer.begin(this.options.firmware.store, manifest, this.newHash(), resumeAt, chunkBytes, timers, (begun) => {
      if (begun instanceof Error) {
        this.state = "idle";
        log("error", "ota_refused", { code: OtaRefusal.WRITE_FAILED, version: manifest.version, error: String(begun) });
        if (synchronous) {
          failure = begun;
          return;
        }
        this.notify({ state: "failed", version: manifest.version, code: OtaRefusal.WRITE_FAILED, message: `the slot cannot be read back: ${clip(String(begun))}` });
        this.options.onIdle?.();
        return;
      }
      this.transfer = begun;
      this.state = "downloading";
      if (resumeAt === 0) this.checkpoint(begun);
      this.watchStall();
      log("info", resumeAt > 0 ? "ota_resume" : "ota_accepted", { version: manifest.version, offset: resumeAt, size: manifest.size, chunkBytes });
      // The cue for the first chunk goes after the reply.
      timers.set(() => this.progress(), 0);
    });
    synchronous = false;
    if (failure !== undefined) {
      this.options.onIdle?.();
      throw requestError(OtaRefusal.WRITE_FAILED, `the slot cannot be written: ${clip(String(failure))}`);
    }
    return { accepted: true, offset: resumeAt, chunkBytes, size: manifest.size };
  }

  /** The offer's manifest, or a RequestError with the refusal's code (logged as ota_refused). */
  private check(offer: Offer): ImageManifest {
    const { firmware, publicKey, version, allowDowngrade, policy } = this.options;
    const refuse = (code: string, message: string, fields: Record<string, unknown> = {}): never => {
      this.options.log("warn", "ota_refused", { code, ...fields });
      throw requestError(code, message);
    };
    if (publicKey === undefined) refuse(OtaRefusal.NO_KEY, "this firmware has no update key (config otaPublicKey): it takes no image");
    const text = offer.manifestText;
    const bytes = encodeUtf8(text);
    if (!firmware.verify(publicKey!, bytes, offer.signature)) {
      const claimed = parseManifest(text);
      const ours = keyId(publicKey!, sha256);
      const other = typeof claimed === "object" && claimed.key !== undefined && claimed.key !== ours;
      refuse(
        OtaRefusal.BAD_SIGNATURE,
        other ? `signed with another key (${claimed.key}), not this device's (${ours})` : "the signature does not match the manifest and this device's key",
        other ? { key: claimed.key, expected: ours } : {},
      );
    }
    const manifest = parseManifest(text);
    if (typeof manifest === "string") return refuse(OtaRefusal.BAD_MANIFEST, manifest);
    const fields = { version: manifest.version, size: manifest.size };
    const store = firmware.store;
    if (manifest.target !== store.target) refuse(OtaRefusal.WRONG_TARGET, `the image is for ${manifest.target}, this device is ${store.target}`, { ...fields, target: manifest.target });
    if (this.trial) refuse(OtaRefusal.UNCONFIRMED, `this firmware (${version}) is on trial: it takes no image before it is confirmed`, fields);
    const order = compareVersions(manifest.version, version);
    if (order === 0) refuse(OtaRefusal.SAME_VERSION, `${version} is the running version`, fields);
    if (order < 0 && !allowDowngrade) refuse(OtaRefusal.DOWNGRADE, `${manifest.version} is older than the running ${version} (the build does not allow downgrades: otaAllowDowngrade)`, fields);
    const result = this.result;
    if (result?.state === "rolled_back" && result.sha256 === manifest.sha256) {
      refuse(OtaRefusal.ROLLED_BACK, `this image was installed and rolled back (${result.reason ?? "unknown"}): it is not taken again`, fields);
    }
    if (manifest.size > store.capacity) refuse(OtaRefusal.TOO_LARGE, `${manifest.size} bytes do not fit the ${store.capacity}-byte slot`, fields);
    const declined = policy?.({ version: manifest.version, size: manifest.size });
    if (declined !== undefined) {
      const code = POLICY_CODE.test(declined) ? declined : "declined";
      refuse(code, `the application declines updates now (${clip(declined)})`, fields);
    }
    return manifest;
  }

  /** The image is complete: checked, then made the one to boot, then the device restarts. */
  private finish(transfer: Transfer): void {
    const { firmware, log, version } = this.options;
    const manifest = transfer.manifest;
    if (!transfer.hashMatches()) {
      this.refuseTransfer(OtaRefusal.WRONG_HASH, `the image's SHA-256 is not the manifest's ${manifest.sha256}`);
      return;
    }
    const trial: TrialRecord = { version: manifest.version, sha256: manifest.sha256, from: version };
    // Before the switch: if the trial record is missing, the next boot cannot tell what happened.
    this.records.write(OtaRecordKey.TRIAL, trial);
    try {
      firmware.store.activate({ version: manifest.version, size: manifest.size, sha256: manifest.sha256 });
    } catch (error) {
      this.records.delete(OtaRecordKey.TRIAL);
      this.refuseTransfer(OtaRefusal.INSTALL_FAILED, `the image could not be made the one to boot: ${String(error)}`);
      return;
    }
    this.endTransfer("installed");
    log("warn", "ota_installed", { version: manifest.version, from: version, size: manifest.size });
    this.notify({ state: "installed", version: manifest.version, size: manifest.size });
    if (!this.options.restart("ota_update")) {
      log("warn", "ota_restart_needed", { version: manifest.version, hint: "this platform cannot restart itself: restart it to boot the new image" });
    }
  }

  /** A received image fails its checks: refused (server and log), dropped; the device carries on. */
  private refuseTransfer(code: OtaRefusalCode, message: string): void {
    const transfer = this.transfer;
    this.options.log("warn", "ota_refused", { code, version: transfer?.manifest.version, offset: transfer?.offset, message });
    try {
      this.options.firmware.store.cancel();
    } catch (error) {
      this.options.log("warn", "ota_cancel_failed", { error: String(error) });
    }
    this.endTransfer("idle");
    this.notify({ state: "failed", version: transfer?.manifest.version, code, message });
    this.options.onIdle?.();
  }

  private endTransfer(state: State): void {
    this.transfer = undefined;
    this.state = state;
    this.options.timers.clear(this.stallTimer);
    this.options.timers.clear(this.retryTimer);
    this.records.delete(OtaRecordKey.TRANSFER);
  }

  private pause(why: string, idle = true): void {
    const transfer = this.transfer!;
    this.state = "paused";
    this.options.timers.clear(this.stallTimer);
    this.options.timers.clear(this.retryTimer);
    this.checkpoint(transfer);
    this.options.log("info", "ota_paused", { why, version: transfer.manifest.version, offset: transfer.offset, size: transfer.size });
    if (idle) this.options.onIdle?.();
  }

  private checkpoint(transfer: Transfer): void {
    const offset = transfer.checkpointOffset(this.options.firmware.store.blockBytes);
    const { version, size, sha256: digest } = transfer.manifest;
    if (this.records.write(OtaRecordKey.TRANSFER, { version, size, sha256: digest, offset })) transfer.checkpointed = offset;
  }

  /** Tells the server where the transfer is: its cue for the next chunk. */
  private progress(): void {
    const transfer = this.transfer;
    if (transfer === undefined || this.state !== "downloading") return;
    // The link went while the slot was hashed again: paused until the next offer.
    if (!this.linkUp) {
      this.pause("disconnected");
      return;
    }
    const sent = this.notify({ state: "downloading", version: transfer.manifest.version, offset: transfer.offset, size: transfer.size });
    if (!sent) {
      this.options.timers.clear(this.retryTimer);
      this.retryTimer = this.options.timers.set(() => this.progress(), PROGRESS_RETRY_MS);
    }
  }

  private watchStall(): void {
    const { timers } = this.options;
    timers.clear(this.stallTimer);
    this.stallTimer = timers.set(() => {
      if (this.state === "downloading") this.pause(`nothing received for ${OTA_STALL_MS} ms`);
    }, OTA_STALL_MS);
  }

  /** The image on trial gives up: the previous one boots again, and is told why. */
  private giveUp(reason: string, detail: string): void {
    const trial = this.trial;
    if (trial === undefined) return;
    const { log, firmware } = this.options;
    this.options.timers.clear(this.confirmTimer);
    this.trial = undefined;
    log("error", "ota_rollback", { version: trial.version, reason, detail });
    this.records.write(OtaRecordKey.TRIAL, { ...trial, reason, detail: clip(detail) });
    const rollback = (): void => {
      try {
        firmware.store.rollback();
      } catch (error) {
        log("error", "ota_rollback_failed", { error: String(error) });
      }
    };
    if (!this.options.restart("ota_rollback", rollback)) rollback();
  }

  private selfCheck(trial: TrialRecord): string | undefined {
    // Storage holds what the update wrote: the trial record reads back.
    if (this.records.trial()?.version !== trial.version && trial.sha256 !== "0".repeat(64)) return "the trial record does not read back from storage";
    return this.options.selfCheck?.();
  }

  private setResult(result: ResultRecord): void {
    this.result = result;
    this.records.write(OtaRecordKey.RESULT, result);
  }

  private notify(fields: Record<string, unknown>): boolean {
    try {
      return this.options.send(JSON.stringify({ type: OTA_MESSAGE, ...fields })) === true;
    } catch {
      return false;
    }
  }

  private newHash(): { update(bytes: Uint8Array): void; digest(): Uint8Array } {
    return this.options.firmware.sha256?.() ?? new Sha256();
  }
}

/** The offer's fields, or bad_request. */
function parseOffer(message: Readonly<Record<string, unknown>>): Offer {
  const { manifest, signature } = message;
  if (typeof manifest !== "string" || manifest.length === 0 || manifest.length > MAX_MANIFEST_BYTES) {
    throw requestError(RequestErrorCode.BAD_REQUEST, `ota_offer "manifest" must be the signed manifest's text (1 to ${MAX_MANIFEST_BYTES} characters), got ${describe(manifest)}`);
  }
  const bytes = typeof signature === "string" ? decodeBase64(signature) : undefined;
  if (bytes === undefined || bytes.length !== SIGNATURE_BYTES) {
    throw requestError(RequestErrorCode.BAD_REQUEST, `ota_offer "signature" must be ${SIGNATURE_BYTES} bytes (r || s) in base64`);
  }
  return { manifestText: manifest, signature: bytes };
}

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}\u2026` : text;
}
