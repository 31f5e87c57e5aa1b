/**
 * The XS side of firmware updates (src/shared/host.ts FirmwareHost): the desktop chip's update
 * store and signature check, each a synchronous call to Node (hosts/xs/firmware-bridge.ts).
 * The SHA-256 of the image is src/ota/sha256.ts's, run by XS, as it would be on a chip without
 * a native digest. A chunk crosses once, from the delivery that brought it to the write.
 */
import type { ActivatedImage, FirmwareHost, FirmwareStore, RunningImage } from "../../../src/shared/host.js";
import { call, powers } from "./bridge.js";
import { Command, FirmwareOp, type Writer } from "./protocol.js";

function firmwareCall(op: number, write?: (writer: Writer) => void) {
  return call(Command.FIRMWARE, (writer) => {
    writer.u8(op);
    write?.(writer);
  });
}

function jsonOf<T>(op: number): T {
  return JSON.parse(powers.decode(firmwareCall(op).rest())) as T;
}

class XsFirmwareStore implements FirmwareStore {
  readonly target: string;
  readonly capacity: number;
  readonly blockBytes: number;

  constructor() {
    const info = jsonOf<{ target: string; capacity: number; blockBytes: number }>(FirmwareOp.INFO);
    this.target = info.target;
    this.capacity = info.capacity;
    this.blockBytes = info.blockBytes;
  }

  running(): RunningImage {
    return jsonOf<RunningImage>(FirmwareOp.RUNNING);
  }

  open(size: number, offset: number): void {
    firmwareCall(FirmwareOp.OPEN, (writer) => {
      writer.f64(size);
      writer.f64(offset);
    });
  }

  write(offset: number, bytes: Uint8Array): void {
    firmwareCall(FirmwareOp.WRITE, (writer) => {
      writer.f64(offset);
      writer.bytes(bytes);
    });
  }

  read(offset: number, length: number): Uint8Array {
    return firmwareCall(FirmwareOp.READ, (writer) => {
      writer.f64(offset);
      writer.u32(length);
    }).rest();
  }

  cancel(): void {
    firmwareCall(FirmwareOp.CANCEL);
  }

  activate(image: ActivatedImage): void {
    const json = powers.encode(JSON.stringify({ version: image.version, size: image.size, sha256: image.sha256 }));
    firmwareCall(FirmwareOp.ACTIVATE, (writer) => writer.bytes(json));
  }

  markValid(): void {
    firmwareCall(FirmwareOp.MARK_VALID);
  }

  rollback(): void {
    firmwareCall(FirmwareOp.ROLLBACK);
  }
}

/** The FirmwareHost inside XS (the chip gave the engine a store: the device program's options.firmware). */
export function createXsFirmwareHost(): FirmwareHost {
  return {
    store: new XsFirmwareStore(),
    verify(publicKey, message, signature) {
      const answer = firmwareCall(FirmwareOp.VERIFY, (writer) => {
        writer.prefixed(publicKey);
        writer.prefixed(signature);
        writer.bytes(message);
      });
      return answer.u8() === 1;
    },
  };
}
