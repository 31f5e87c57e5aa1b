/**
 * The Node side of the XS host's firmware updates (see xs-side/firmware.ts for the XS side,
 * xs-side/protocol.ts Command.FIRMWARE for the wire format): the desktop chip's update store
 * (hosts/node/firmware-store.ts) and Node's ECDSA P-256, which XS reaches synchronously.
 *
 * The signature is checked by Node's crypto, not by ECMAScript inside XS: on the chip the
 * check is native too (the SDK's ECDSA over its C big-number arithmetic), so what the firmware
 * owns is the call and what it does with the answer, and that runs inside XS. A verifier in
 * portable ECMAScript would be code that runs nowhere in production.
 */
import type { FirmwareHost } from "../../src/shared/host.js";
import { ANSWER_OK, Command, FirmwareOp, type Reader } from "./xs-side/protocol.js";

const OK = Uint8Array.of(ANSWER_OK);

export class FirmwareBridge {
  constructor(private readonly host: FirmwareHost | undefined) {}

  /** Answers a command of XS; undefined when `kind` is not this bridge's. Throws the store's errors (XS rethrows them). */
  command(kind: number, body: Reader): Uint8Array | undefined {
    if (kind !== Command.FIRMWARE) return undefined;
    const host = this.host;
    if (host === undefined) throw new Error("this chip has no firmware store");
    const store = host.store;
    const op = body.u8();
    switch (op) {
      case FirmwareOp.INFO:
        return json({ target: store.target, capacity: store.capacity, blockBytes: store.blockBytes });
      case FirmwareOp.RUNNING:
        return json(store.running());
      case FirmwareOp.OPEN: {
        const size = body.f64();
        store.open(size, body.f64());
        return OK;
      }
      case FirmwareOp.WRITE: {
        const offset = body.f64();
        store.write(offset, body.rest());
        return OK;
      }
      case FirmwareOp.READ: {
        const offset = body.f64();
        return answer(store.read(offset, body.u32()));
      }
      case FirmwareOp.CANCEL:
        store.cancel();
        return OK;
      case FirmwareOp.ACTIVATE:
        store.activate(JSON.parse(Buffer.from(body.rest()).toString("utf8")));
        return OK;
      case FirmwareOp.MARK_VALID:
        store.markValid();
        return OK;
      case FirmwareOp.ROLLBACK:
        store.rollback();
        return OK;
      case FirmwareOp.VERIFY: {
        const key = body.prefixed();
        const signature = body.prefixed();
        return Uint8Array.of(ANSWER_OK, host.verify(key, body.rest(), signature) ? 1 : 0);
      }
      default:
        throw new Error(`unknown firmware operation ${op}`);
    }
  }
}

function json(value: unknown): Uint8Array {
  return answer(Buffer.from(JSON.stringify(value), "utf8"));
}

function answer(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = ANSWER_OK;
  out.set(bytes, 1);
  return out;
}
