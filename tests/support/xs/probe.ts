/**
 * A probe of the bridge for tests (tests/hosts/xs/): each host interface inside XS, called
 * one operation at a time from Node, its callbacks reported as events.
 */
import type { TcpSocket } from "../../../src/shared/host.js";
import { now } from "../../../hosts/xs/xs-side/bridge.js";
import { openSockets, pendingTimers, xsRandom, xsStorage, xsTimers, xsUtf8, xsWifi, XsTcpSocket } from "../../../hosts/xs/xs-side/host.js";
import { registerProgram, type Json } from "../../../hosts/xs/xs-side/programs.js";

registerProgram("probe", (_options, emit) => {
  const sockets = new Map<number, TcpSocket>();
  let lastId = 0;
  let held: Uint8Array | undefined;
  const str = (value: Json | undefined): string => value as string;

  xsWifi.onNotify = (notification, reason) => emit({ event: "wifi", notification, reason: reason ?? null, now: now() });

  return {
    call(op, args, bytes) {
      switch (op) {
        case "tcp-open": {
          const id = ++lastId;
          const autoRead = args.autoRead !== false;
          const socket: TcpSocket = new XsTcpSocket({
            host: args.host as string,
            port: args.port as number,
            nodelay: args.nodelay === true,
            onReadable: (count) => {
              if (!autoRead) return emit({ event: "readable", id, count });
              const data = socket.read();
              emit({ event: "data", id, count }, data);
            },
            onWritable: (count) => emit({ event: "writable", id, count }),
            onError: (message) => emit({ event: "error", id, message: message ?? null }),
          });
          sockets.set(id, socket);
          return { value: id };
        }
        case "tcp-read": {
          const data = sockets.get(args.id as number)!.read(args.count === undefined ? undefined : (args.count as number));
          return data === undefined ? { value: null } : { value: data.length, bytes: data };
        }
        case "tcp-write":
          sockets.get(args.id as number)!.write(bytes.slice());
          return;
        case "tcp-close":
          sockets.get(args.id as number)!.close();
          return;
        case "timer-set": {
          const setAt = now();
          const id = xsTimers.set(() => emit({ event: "timer", id: id as number, setAt, now: now() }), args.ms as number);
          return { value: id as number };
        }
        case "timer-clear":
          xsTimers.clear(args.id);
          return;
        case "throw-in-timer":
          xsTimers.set(() => {
            throw new RangeError(str(args.message));
          }, args.ms as number);
          return;
        case "now":
          return { value: now() };
        case "random": {
          const out = new Uint8Array(args.count as number);
          xsRandom(out);
          return { bytes: out };
        }
        case "storage-get":
          return { value: xsStorage.get(str(args.domain), str(args.key)) ?? null };
        case "storage-set":
          xsStorage.set(str(args.domain), str(args.key), str(args.value));
          return;
        case "storage-delete":
          xsStorage.delete(str(args.domain), str(args.key));
          return;
        case "wifi-connect":
          xsWifi.connect({ ssid: str(args.ssid), password: str(args.password) });
          return;
        case "wifi-disconnect":
          xsWifi.disconnect();
          return;
        case "wifi-status":
          return { value: { rssi: xsWifi.rssi() ?? null, address: xsWifi.address() ?? null } };
        case "throw":
          throw new TypeError(str(args.message));
        case "hang":
          for (;;) {
            // never answers: the engine's watchdog must end this
          }
        case "globals": {
          // What a firmware module sees beyond ECMAScript: nothing but the host's powers.
          const names = ["TextEncoder", "TextDecoder", "print", "issueCommand", "setTimeout", "setImmediate", "console", "process", "Buffer", "performance", "gc", "__xsHost"];
          const present = names.filter((name) => (globalThis as Record<string, unknown>)[name] !== undefined);
          return { value: present };
        }
        case "utf8-decode-checked": {
          // Byte strings laid end to end, args.lengths long each: the text of each, or null.
          const out: Array<string | null> = [];
          let at = 0;
          for (const length of args.lengths as number[]) {
            out.push(xsUtf8.decodeChecked!(bytes.subarray(at, at + length)) ?? null);
            at += length;
          }
          return { value: out };
        }
        case "hold":
          // Keeps a buffer of args.bytes alive (0: none), for a test of the engine's memory figures.
          held = (args.bytes as number) > 0 ? new Uint8Array(args.bytes as number) : undefined;
          return { value: held?.length ?? 0 };
        case "stats":
          return { value: { timers: pendingTimers(), sockets: openSockets() } };
        default:
          throw new Error(`probe: unknown call ${JSON.stringify(op)}`);
      }
    },
  };
});
