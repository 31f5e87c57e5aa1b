/**
 * Serial ports as a user meets them: listing what is plugged in (which one is the ESP32?), and
 * turning the errors of opening one into what to do about them.
 */
import { readdirSync, readFileSync, realpathSync, statSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { paint, SGR } from "../../src/shared/log-format.js";

export interface PortInfo {
  path: string;
  manufacturer?: string | undefined;
  serialNumber?: string | undefined;
  /** USB vendor id, 4 hex digits, lower case. */
  vendorId?: string | undefined;
  productId?: string | undefined;
}

/**
 * USB ids of the serial bridges on ESP32 boards: the USB-UART chips of the DevKits and their
 * clones, and the USB serial built into the newer chips.
 */
const ESP32_BRIDGES: ReadonlyArray<{ vendorId: string; productId?: string; name: string }> = [
  { vendorId: "10c4", productId: "ea60", name: "CP210x USB-UART bridge" },
  { vendorId: "1a86", productId: "7523", name: "CH340 USB-UART bridge" },
  { vendorId: "1a86", productId: "55d4", name: "CH9102 USB-UART bridge" },
  { vendorId: "0403", productId: "6001", name: "FTDI FT232R USB-UART bridge" },
  { vendorId: "0403", productId: "6010", name: "FTDI FT2232 (ESP-WROVER-KIT, ESP-Prog)" },
  { vendorId: "303a", productId: "1001", name: "Espressif USB-Serial/JTAG (ESP32-C3/C6/S3/H2)" },
  // Anything else with Espressif's vendor id (e.g. an ESP32-S2/S3 running USB CDC).
  { vendorId: "303a", name: "Espressif USB device" },
];

/** What makes the port likely an ESP32's, or undefined. */
export function esp32Bridge(port: Pick<PortInfo, "vendorId" | "productId">): string | undefined {
  const vendor = port.vendorId?.toLowerCase();
  const product = port.productId?.toLowerCase();
  return ESP32_BRIDGES.find((bridge) => bridge.vendorId === vendor && (bridge.productId === undefined || bridge.productId === product))?.name;
}

/** The ports serialport lists; on Linux without udevadm (containers, minimal systems), from sysfs. */
export async function listPorts(list: () => Promise<PortInfo[]>): Promise<PortInfo[]> {
  try {
    return normalise(await list());
  } catch (error) {
    if (process.platform !== "linux") throw error;
    // serialport asks `udevadm info -e`, which is missing where udev is: read what udev would.
    return normalise(listFromSysfs());
  }
}

function normalise(ports: PortInfo[]): PortInfo[] {
  return ports.map((port) => ({
    path: port.path,
    manufacturer: port.manufacturer || undefined,
    serialNumber: port.serialNumber || undefined,
    vendorId: port.vendorId?.toLowerCase() || undefined,
    productId: port.productId?.toLowerCase() || undefined,
  }));
}

/** The names serialport's Linux listing accepts as serial ports. */
const SERIAL_TTY = /^(ttyS|ttyUSB|ttyACM|ttyAMA|ttyWCH|ttyXRUSB|ttyMFD|ttyO|rfcomm)\d+$/;
/** USB device directories are a few levels above the tty's interface; look no further. */
const MAX_USB_DEPTH = 6;

/** Serial ports from /sys/class/tty: those with a device behind them and a node in /dev. */
export function listFromSysfs(classDir = "/sys/class/tty", devDir = "/dev"): PortInfo[] {
  let names: string[];
  try {
    names = readdirSync(classDir);
  } catch {
    return [];
  }
  const ports: PortInfo[] = [];
  for (const name of names.filter((n) => SERIAL_TTY.test(n)).sort(naturalOrder)) {
    let device: string;
    try {
      device = realpathSync(join(classDir, name, "device"));
    } catch {
      continue; // a virtual tty
    }
    if (!existsSync(join(devDir, name))) continue;
    const port: PortInfo = { path: join(devDir, name) };
    // Walk up from the interface to the USB device, which has idVendor.
    let dir = device;
    for (let depth = 0; depth < MAX_USB_DEPTH && dir !== "/"; depth++, dir = dirname(dir)) {
      const vendorId = readSysfs(join(dir, "idVendor"));
      if (vendorId === undefined) continue;
      port.vendorId = vendorId;
      port.productId = readSysfs(join(dir, "idProduct"));
      port.manufacturer = readSysfs(join(dir, "manufacturer"));
      port.serialNumber = readSysfs(join(dir, "serial"));
      break;
    }
    ports.push(port);
  }
  return ports;
}

function readSysfs(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

/** Built-in UARTs (/dev/ttyS*): a PC lists up to 32 of them, mostly with nothing behind. */
const LEGACY_UART = /\/ttyS\d+$/;

/**
 * The listing `npm run monitor` (and `npm run provision`) prints with no --port; `next` is its
 * last line, what to run with the likeliest port.
 */
export function formatPortList(
  ports: readonly PortInfo[],
  colour: boolean,
  next: (path: string) => string = (path) => `Watch one with: npm run monitor -- --port ${path}`,
): string {
  const legacy = ports.filter((port) => LEGACY_UART.test(port.path) && port.vendorId === undefined);
  const shown = ports.filter((port) => !legacy.includes(port));
  // Likely ESP32s first.
  shown.sort((a, b) => Number(esp32Bridge(b) !== undefined) - Number(esp32Bridge(a) !== undefined));
  const lines: string[] = [];
  if (shown.length === 0) {
    lines.push(
      legacy.length === 0 ? "No serial ports found." : "No USB serial ports found.",
      "",
      "  - Is the board plugged in, with a data cable (some USB cables only charge)?",
      "  - Linux: the bridge drivers (cp210x, ch341, ftdi_sio, cdc_acm) come with the kernel;",
      "    after plugging in, `sudo dmesg | tail` should name a ttyUSB or ttyACM device.",
      "  - macOS and Windows: CP210x and CH340/CH9102 boards need the driver from Silicon Labs",
      "    or WCH; ports are then /dev/cu.* (macOS) or COM3, COM4... (Windows).",
      "  - Linux permissions: opening a port needs the dialout group:",
      "    sudo usermod -aG dialout $USER   (then log out and back in).",
    );
  } else {
    lines.push("Serial ports:");
    const width = Math.max(...shown.map((port) => port.path.length));
    for (const port of shown) {
      const details = [
        port.manufacturer,
        port.serialNumber && `serial ${port.serialNumber}`,
        port.vendorId && `${port.vendorId}:${port.productId ?? "????"}`,
      ].filter(Boolean);
      const bridge = esp32Bridge(port);
      const mark = bridge ? `  ${paint(SGR.green, `<- likely an ESP32 (${bridge})`, colour)}` : "";
      lines.push(`  ${paint(SGR.bold, port.path.padEnd(width), colour)}  ${details.join(", ") || "(no USB details)"}${mark}`);
    }
  }
  if (legacy.length > 0) {
    const names = legacy.map((port) => port.path);
    const range = names.length === 1 ? names[0] : `${names[0]} ... ${names[names.length - 1]}`;
    lines.push(`\nAlso ${names.length} built-in serial port${names.length === 1 ? "" : "s"} (${range}), not listed: a board on USB is never one of these.`);
  }
  if (shown.length > 0) lines.push("", next((shown.find((port) => esp32Bridge(port)) ?? shown[0]!).path));
  return lines.join("\n") + "\n";
}

export type OpenFailureKind = "missing" | "permission" | "busy" | "not-serial" | "other";

/**
 * What went wrong opening `path`. serialport's errors carry no code, only strerror text
 * ("Error: No such file or directory, cannot open /dev/ttyUSB0"), so the text is read, and the
 * file system is asked first where it can answer.
 */
export function classifyOpenError(error: unknown, path: string): OpenFailureKind {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT" || /no such file or directory/i.test(message)) return "missing";
  if (!existsSync(path)) return "missing";
  if (code === "EACCES" || code === "EPERM" || /permission denied|operation not permitted/i.test(message)) return "permission";
  if (code === "EBUSY" || /cannot lock port|resource temporarily unavailable|resource busy/i.test(message)) return "busy";
  if (/inappropriate ioctl|not a tty/i.test(message)) return "not-serial";
  return "other";
}

/** Groups that distributions give serial devices to. */
const SERIAL_GROUPS = ["dialout", "uucp", "serial"];

/** The group owning the device file (dialout on Debian/Ubuntu, uucp on Arch), if we can tell. */
function deviceGroup(path: string): string {
  try {
    const gid = statSync(path).gid;
    for (const entry of readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , id] = entry.split(":");
      if (name && Number(id) === gid && SERIAL_GROUPS.includes(name)) return name;
    }
  } catch {
    // fall through to the usual name
  }
  return "dialout";
}

/** One failure to open, said so that the user knows what to do next. */
export function explainOpenFailure(kind: OpenFailureKind, path: string, error: unknown): string {
  // serialport's messages start with "Error: " or "Error ", which says nothing.
  const message = (error instanceof Error ? error.message : String(error)).replace(/^Error:?\s+/, "");
  switch (kind) {
    case "missing":
      return (
        `no serial port at ${path}.\n` +
        "Is the board plugged in? `npm run monitor` without --port lists the ports it can see;\n" +
        "--wait waits for this one to appear."
      );
    case "permission": {
      const group = deviceGroup(path);
      return (
        `permission denied opening ${path}: your user may not use serial ports.\n` +
        `On Linux, join the ${group} group, then log out and back in (or run \`newgrp ${group}\`):\n` +
        `  sudo usermod -aG ${group} $USER\n` +
        `\`ls -l ${path}\` shows the port's group; \`id\` shows yours.`
      );
    }
    case "busy":
      return (
        `${path} is in use by another program: another monitor, a flash in progress ` +
        "(mcconfig -d, esptool), screen or minicom, or ModemManager probing a new device. Close it and try again."
      );
    case "not-serial":
      return `${path} is not a serial port (${message}).`;
    case "other":
      return `cannot open ${path}: ${message}`;
  }
}
