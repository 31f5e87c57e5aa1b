/**
 * Firmware updates on the ESP32 (src/shared/host.ts FirmwareHost), over what the platform
 * module (firmware.ts, esp32 only) hands in: portable on purpose, so it is tested on Node.
 *
 *   the slot   the next OTA app partition through the SDK's ECMA-419 flash
 *              (embedded:storage/flash, path "nextota": read, write, eraseBlock): a block is
 *              erased when a write reaches its first byte, so a transfer may resume at any
 *              block boundary, also after a reboot. (The SDK's OTA classes, `ota` and
 *              embedded:update, cannot: esp_ota_begin() starts every image at offset 0.)
 *   boot       ESP-IDF's app rollback (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE, our sdkconfig),
 *              natives of firmware.c: esp_ota_set_boot_partition() (which also checks the app
 *              image's own checksum and hash), the running partition's state (a new image boots
 *              ESP_OTA_IMG_PENDING_VERIFY), esp_ota_mark_app_valid_cancel_rollback(), and
 *              esp_ota_mark_app_invalid_rollback_and_reboot(). A reset before the confirmation
 *              (a panic, the task watchdog) makes the boot loader boot the previous image.
 *   signature  ECDSA P-256 with the SDK's ecdsa module over its native big-number arithmetic
 *              (modules/crypt/etc/ecdsa.js, the one TLS verifies certificates with).
 *   SHA-256    the SDK's native Digest, written chunk by chunk.
 */
import type { ActivatedImage, FirmwareHost, FirmwareStore, RunningImage } from "../../src/shared/host.js";

/** The SDK's ECMA-419 flash partition, as far as used. */
export interface FlashApi {
  read(byteLength: number, byteOffset: number): ArrayBuffer;
  write(buffer: ArrayBuffer, byteOffset: number): void;
  /** Erases blocks [start, end) (block numbers, not bytes). */
  eraseBlock(start: number, end?: number): void;
  status(): { size: number; blockLength: number };
}

/** firmware.c's natives (ESP-IDF's esp_ota_ops.h). */
export interface OtaApi {
  /** The running partition's esp_ota_img_states_t, or -1 when it has none (flashed by cable). */
  state(): number;
  /** The partition last rolled back from exists (esp_ota_get_last_invalid_partition()). */
  rolledBack(): boolean;
  /** esp_ota_set_boot_partition() of the next update partition; throws its error. */
  activate(): void;
  markValid(): void;
  /** Does not return: the previous image boots. Throws when there is none to go back to. */
  rollback(): void;
}

/** ESP-IDF's esp_ota_img_states_t: ESP_OTA_IMG_PENDING_VERIFY. */
export const ESP_OTA_IMG_PENDING_VERIFY = 1;
/** The ESP32's image target (a manifest's `target`). */
export const ESP32_TARGET = "esp32";

export class FlashFirmwareStore implements FirmwareStore {
  readonly target = ESP32_TARGET;
  readonly capacity: number;
  readonly blockBytes: number;
  private size = 0;
  private open_ = false;

  constructor(
    private readonly flash: FlashApi,
    private readonly ota: OtaApi,
    /** The reset reason of this boot: after a rollback, why the image on trial died. */
    private readonly resetReason: () => string,
  ) {
    const status = flash.status();
    this.capacity = status.size;
    this.blockBytes = status.blockLength;
  }

  running(): RunningImage {
    const running: RunningImage = { pending: this.ota.state() === ESP_OTA_IMG_PENDING_VERIFY };
    if (this.ota.rolledBack()) running.rollback = { reason: this.resetReason() };
    return running;
  }

  open(size: number, offset: number): void {
    if (size > this.capacity) throw new Error(`${size} bytes do not fit the ${this.capacity}-byte partition`);
    if (offset % this.blockBytes !== 0) throw new Error(`a resume starts at a block boundary, not at ${offset}`);
    this.size = size;
    this.open_ = true;
  }

  write(offset: number, bytes: Uint8Array): void {
    if (!this.open_) throw new Error("no image is being written (open() first)");
    if (offset + bytes.length > this.size) throw new Error(`a write past the image's ${this.size} bytes`);
    const block = this.blockBytes;
    // Every block whose first byte this write reaches is erased first (flash bits only clear).
    const first = Math.ceil(offset / block);
    const end = Math.ceil((offset + bytes.length) / block);
    if (end > first) this.flash.eraseBlock(first, end);
    this.flash.write(ownBuffer(bytes), offset);
  }

  read(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.flash.read(length, offset));
  }

  cancel(): void {
    this.open_ = false;
  }

  activate(_image: ActivatedImage): void {
    this.open_ = false;
    this.ota.activate();
  }

  markValid(): void {
    this.ota.markValid();
  }

  rollback(): void {
    this.ota.rollback();
  }
}

/** The SDK's ECDSA, Curve and ECPoint (modules/crypt), as far as used. */
export interface EcdsaApi {
  ECDSA: new (key: unknown, curve: unknown) => { verify(hash: ArrayBuffer, signature: ArrayBuffer, asn1?: boolean): boolean };
  Curve: new (name: "secp256r1") => unknown;
  ECPoint: { fromOctetString(octets: Uint8Array): unknown };
}

/** The SDK's Digest, as far as used. */
export type DigestConstructor = new (type: "SHA256") => { write(message: ArrayBuffer): void; close(): ArrayBuffer };

/** FirmwareHost.verify and sha256 over the SDK's crypt modules. */
export function createFirmwareHost(store: FirmwareStore, ecdsa: EcdsaApi, Digest: DigestConstructor): FirmwareHost {
  const sha256 = () => {
    const digest = new Digest("SHA256");
    return {
      update: (bytes: Uint8Array) => digest.write(ownBuffer(bytes)),
      digest: () => new Uint8Array(digest.close()),
    };
  };
  return {
    store,
    sha256,
    verify(publicKey, message, signature) {
      try {
        const hash = sha256();
        hash.update(message);
        const key = ecdsa.ECPoint.fromOctetString(new Uint8Array(publicKey));
        return new ecdsa.ECDSA(key, new ecdsa.Curve("secp256r1")).verify(ownBuffer(hash.digest()), ownBuffer(signature), false) === true;
      } catch {
        // A point not on the curve, a signature out of range: not the owner's.
        return false;
      }
    },
  };
}

/** An ArrayBuffer holding exactly `bytes` (the SDK's natives take whole buffers). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return (whole ? bytes : new Uint8Array(bytes)).buffer as ArrayBuffer;
}
