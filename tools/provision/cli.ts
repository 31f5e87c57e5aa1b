/**
 * `npm run provision -- --port /dev/ttyUSB0 --ssid home --password secret`: hands a device its
 * WiFi over Improv serial, as ESP Web Tools does from a browser; without --ssid it shows the
 * device's state and info (and with --scan the networks it hears). The port is handled as the
 * monitor handles it (tools/monitor: listing, opening, --wait, errors said in words).
 * See PROVISION_COMMAND in options.ts.
 */
import { exitWhenDrained, runCommand, SetupError, wantsColour, type ParsedFlags } from "../../hosts/node/cli.js";
import { loadSerialport, openSerialPort } from "../../hosts/node/serial.js";
import { IMPROV_ERROR_NAMES, IMPROV_STATE_NAMES, ImprovError, ImprovState } from "../../src/provisioning/improv.js";
import { LineSplitter } from "../monitor/line-splitter.js";
import { formatPortList, listPorts } from "../monitor/ports.js";
import { renderLine } from "../monitor/render.js";
import { PortSession, type PortOpener } from "../monitor/session.js";
import { ImprovClient, ImprovDeviceError, ImprovTimeoutError } from "./client.js";
import { PROVISION_COMMAND, provisionCommand, type ProvisionOptions } from "./options.js";

/** How long each answer may take once the device has answered once, ms. */
const INFO_TIMEOUT_MS = 5_000;
/** A scan: an ESP32 takes about 2.5 s; the device gives up after 15 s. */
const SCAN_TIMEOUT_MS = 20_000;
/** A join: the device answers within 28 s (its WiFi attempt is bounded by 20 s). */
const JOIN_TIMEOUT_MS = 35_000;
/** The state is asked again this often until the device answers (it may be booting), ms. */
const DETECT_RETRY_MS = 1_000;
/** Closing the port may take this long before the command exits anyway, ms. */
const CLOSE_TIMEOUT_MS = 2_000;

async function list(): Promise<number> {
  const { SerialPort } = await loadSerialport();
  const ports = await listPorts(() => SerialPort.list());
  process.stdout.write(formatPortList(ports, wantsColour(process.stdout), (path) => `Provision one with: npm run provision -- --port ${path} --ssid NAME --password PW`));
  return 0;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The device's own lines, made readable as the monitor shows them, on stderr (--log). */
function logPrinter(): { data(bytes: Uint8Array): void; flush(): void } {
  const colour = wantsColour(process.stderr);
  const splitter = new LineSplitter((line) => {
    const text = renderLine(line, { raw: false, colour, minLevel: "debug", events: [], onlyJson: false });
    if (typeof text === "string") process.stderr.write(text);
  });
  return { data: (bytes) => splitter.push(bytes, Date.now()), flush: () => splitter.flush() };
}

/** The port open, or a SetupError with what the monitor would say about it. */
function openSession(options: ProvisionOptions, onData: (chunk: Uint8Array) => void, onLost: () => void): Promise<PortSession> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const open: PortOpener = async (path, baudRate) => openSerialPort(await loadSerialport(), path, baudRate);
    const session: PortSession = new PortSession(options.port, options.baudRate, open, {
      data: onData,
      lost: onLost,
      status(text) {
        process.stderr.write(`provision: ${text.replace("; Ctrl-C quits", "")}\n`);
        if (!settled && session.state === "open") {
          settled = true;
          resolve(session);
        }
      },
      fatal(text) {
        if (settled) {
          process.stderr.write(`provision: ${text}\n`);
          return;
        }
        settled = true;
        reject(new SetupError(text));
      },
    });
    void session.start(options.wait);
  });
}

/** Asks for the state until the device answers, for at most `timeoutMs`. */
async function detect(client: ImprovClient, options: ProvisionOptions): Promise<{ state: number; url: string | undefined }> {
  const end = Date.now() + options.detectTimeoutMs;
  for (;;) {
    const left = end - Date.now();
    try {
      return await client.currentState(Math.max(1, Math.min(DETECT_RETRY_MS, left)));
    } catch (error) {
      if (!(error instanceof ImprovTimeoutError) && !/not open/.test((error as Error).message)) throw error;
      if (Date.now() >= end) {
        throw new SetupError(
          `no Improv answer on ${options.port} within ${options.detectTimeoutMs} ms. Is the firmware running (the simulated device\n` +
            "with --serial on the other end of this tty; on the ESP32 a release build, whose UART the firmware\n" +
            `reads), at ${options.baudRate} baud? npm run monitor -- --port ${options.port} shows what the device prints.`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(0, end - Date.now()))));
    }
  }
}

function stateLine(state: number, url: string | undefined): string {
  const name = IMPROV_STATE_NAMES[state] ?? `unknown (0x${state.toString(16)})`;
  return `state: ${name}${state === ImprovState.PROVISIONED && url ? ` (${url})` : ""}`;
}

async function provision(options: ProvisionOptions): Promise<number> {
  const printer = options.log ? logPrinter() : undefined;
  let client: ImprovClient | undefined;
  const session = await openSession(
    options,
    (chunk) => client?.receive(chunk),
    () => printer?.flush(),
  );
  client = new ImprovClient({ write: (bytes) => session.write(bytes) }, printer ? { onOther: (bytes) => printer.data(bytes) } : {});
  const quit = (): void => {
    client?.abort(new SetupError("interrupted"));
  };
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  try {
    const { state, url } = await detect(client, options);
    const info = await client.deviceInfo(INFO_TIMEOUT_MS);
    say(`device: ${info.name} (${info.firmware} ${info.version} on ${info.hardware})`);
    say(stateLine(state, url));
    if (options.scan) {
      const networks = await client.scan(SCAN_TIMEOUT_MS);
      say(networks.length === 0 ? "networks: none heard" : "networks:");
      const width = Math.max(0, ...networks.map((network) => network.ssid.length));
      for (const network of networks) say(`  ${network.ssid.padEnd(width)}  ${network.rssi} dBm  ${network.secure ? "secured" : "open"}`);
    }
    if (options.network) {
      const { ssid, password } = options.network;
      say(`joining ${ssid}...`);
      try {
        const joined = await client.provision(ssid, password, JOIN_TIMEOUT_MS);
        say(`joined ${ssid}${joined.url ? `: ${joined.url}` : ""}`);
      } catch (error) {
        if (!(error instanceof ImprovDeviceError)) throw error;
        const why =
          error.code === ImprovError.UNABLE_TO_CONNECT
            ? "check the network's name and password, and that the device is in its range; its log (--log) says which"
            : IMPROV_ERROR_NAMES[error.code] ?? `error 0x${error.code.toString(16)}`;
        process.stderr.write(`provision: the device could not join ${ssid} (${IMPROV_ERROR_NAMES[error.code] ?? "error"}): ${why}\n`);
        return 1;
      }
    }
    return 0;
  } catch (error) {
    if (error instanceof SetupError) throw error;
    if (error instanceof ImprovTimeoutError || error instanceof ImprovDeviceError) throw new SetupError(error.message);
    throw error;
  } finally {
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
    printer?.flush();
    await Promise.race([session.stop(), new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
  }
}

async function main(parsed: ParsedFlags): Promise<number> {
  const command = provisionCommand(parsed);
  switch (command.kind) {
    case "help":
      return 0;
    case "list":
      return list();
    case "provision":
      return provision(command.options);
  }
}

void runCommand(PROVISION_COMMAND, process.argv.slice(2), main).then(exitWhenDrained);
