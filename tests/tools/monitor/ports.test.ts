import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  classifyOpenError,
  esp32Bridge,
  explainOpenFailure,
  formatPortList,
  listFromSysfs,
  listPorts,
  type PortInfo,
} from "../../../tools/monitor/ports.js";

describe("monitor ports", function () {
  describe("esp32Bridge", function () {
    it("knows the USB serial bridges of ESP32 boards", function () {
      assert.match(esp32Bridge({ vendorId: "10c4", productId: "ea60" })!, /CP210x/);
      assert.match(esp32Bridge({ vendorId: "1a86", productId: "7523" })!, /CH340/);
      assert.match(esp32Bridge({ vendorId: "0403", productId: "6001" })!, /FTDI/);
      assert.match(esp32Bridge({ vendorId: "303a", productId: "1001" })!, /Espressif USB-Serial\/JTAG/);
      assert.match(esp32Bridge({ vendorId: "303A", productId: "0002" })!, /Espressif/, "any Espressif device, any case");
    });

    it("knows nothing of other devices", function () {
      assert.equal(esp32Bridge({ vendorId: "2341", productId: "0043" }), undefined); // an Arduino Uno
      assert.equal(esp32Bridge({ vendorId: "1a86", productId: "0001" }), undefined);
      assert.equal(esp32Bridge({}), undefined);
    });
  });

  describe("formatPortList", function () {
    const usb: PortInfo = { path: "/dev/ttyUSB0", manufacturer: "Silicon Labs", serialNumber: "0001", vendorId: "10c4", productId: "ea60" };
    const arduino: PortInfo = { path: "/dev/ttyACM0", manufacturer: "Arduino", vendorId: "2341", productId: "0043" };
    const uarts = Array.from({ length: 32 }, (_, i): PortInfo => ({ path: `/dev/ttyS${i}` }));

    it("shows path, manufacturer, serial number and USB ids, the likely ESP32 first and marked", function () {
      assert.equal(
        formatPortList([arduino, usb, ...uarts], false),
        "Serial ports:\n" +
          "  /dev/ttyUSB0  Silicon Labs, serial 0001, 10c4:ea60  <- likely an ESP32 (CP210x USB-UART bridge)\n" +
          "  /dev/ttyACM0  Arduino, 2341:0043\n" +
          "\nAlso 32 built-in serial ports (/dev/ttyS0 ... /dev/ttyS31), not listed: a board on USB is never one of these.\n" +
          "\nWatch one with: npm run monitor -- --port /dev/ttyUSB0\n",
      );
    });

    it("says when there is none, with what to check: cable, drivers, the dialout group", function () {
      const text = formatPortList([], false);
      assert.match(text, /^No serial ports found\.\n/);
      assert.match(text, /data cable/);
      assert.match(text, /cp210x, ch341, ftdi_sio, cdc_acm/);
      assert.match(text, /sudo usermod -aG dialout \$USER/);
      assert.match(formatPortList(uarts, false), /^No USB serial ports found\.\n[\s\S]*Also 32 built-in serial ports/);
    });
  });

  describe("listPorts", function () {
    it("gives serialport's list with ids in lower case and empty fields left out", async function () {
      const ports = await listPorts(async () => [{ path: "COM3", manufacturer: "", vendorId: "10C4", productId: "EA60", serialNumber: undefined }]);
      assert.deepEqual(ports, [{ path: "COM3", manufacturer: undefined, serialNumber: undefined, vendorId: "10c4", productId: "ea60" }]);
    });

    it("reads sysfs on Linux when serialport cannot list (no udevadm)", async function () {
      if (process.platform !== "linux") this.skip();
      const ports = await listPorts(async () => {
        throw Object.assign(new Error("spawn udevadm ENOENT"), { code: "ENOENT" });
      });
      assert.ok(Array.isArray(ports));
    });
  });

  describe("listFromSysfs", function () {
    let root: string;
    beforeEach(function () {
      root = mkdtempSync(join(tmpdir(), "moorline-sysfs-"));
    });
    afterEach(function () {
      rmSync(root, { recursive: true, force: true });
    });

    it("finds serial ttys with a device and a /dev node, and the USB ids above them", function () {
      const usbDevice = join(root, "devices", "usb1", "1-1");
      const ttyDir = join(usbDevice, "1-1:1.0", "ttyUSB0");
      mkdirSync(ttyDir, { recursive: true });
      writeFileSync(join(usbDevice, "idVendor"), "10c4\n");
      writeFileSync(join(usbDevice, "idProduct"), "ea60\n");
      writeFileSync(join(usbDevice, "manufacturer"), "Silicon Labs\n");
      writeFileSync(join(usbDevice, "serial"), "0001\n");
      const platform = join(root, "devices", "platform", "serial8250");
      mkdirSync(platform, { recursive: true });
      const classDir = join(root, "class", "tty");
      const devDir = join(root, "dev");
      mkdirSync(devDir, { recursive: true });
      for (const [name, device] of [["ttyUSB0", ttyDir], ["ttyS10", platform], ["ttyS2", platform], ["ttyUSB1", ttyDir], ["tty1", platform], ["ttyACM0", undefined]] as const) {
        mkdirSync(join(classDir, name), { recursive: true });
        if (device) symlinkSync(device, join(classDir, name, "device"));
        if (name !== "ttyUSB1") writeFileSync(join(devDir, name), "");
      }
      assert.deepEqual(listFromSysfs(classDir, devDir), [
        { path: join(devDir, "ttyS2") },
        { path: join(devDir, "ttyS10") },
        { path: join(devDir, "ttyUSB0"), vendorId: "10c4", productId: "ea60", manufacturer: "Silicon Labs", serialNumber: "0001" },
      ]);
    });

    it("gives an empty list where there is no sysfs", function () {
      assert.deepEqual(listFromSysfs(join(root, "none")), []);
    });
  });

  describe("open failures", function () {
    // The messages serialport's Linux binding gives (strerror text, no code).
    it("tells the kinds apart from serialport's messages", function () {
      const path = "/dev/ttyUSB7";
      assert.equal(classifyOpenError(new Error("Error: No such file or directory, cannot open /dev/ttyUSB7"), path), "missing");
      assert.equal(classifyOpenError(new Error("Error: Permission denied, cannot open /dev/null"), "/dev/null"), "permission");
      assert.equal(classifyOpenError(new Error("Error Resource temporarily unavailable Cannot lock port"), "/dev/null"), "busy");
      assert.equal(classifyOpenError(new Error("Error: Inappropriate ioctl for device setting custom baud rate of 115200"), "/dev/null"), "not-serial");
      assert.equal(classifyOpenError(new Error("Error: Input/output error"), "/dev/null"), "other");
      assert.equal(classifyOpenError(new Error("Error: Input/output error"), path), "missing", "whatever the message, a path that is not there is missing");
    });

    it("explains each so the user knows what to do", function () {
      assert.match(explainOpenFailure("missing", "/dev/ttyUSB7", new Error("x")), /^no serial port at \/dev\/ttyUSB7\.\n.*without --port lists[\s\S]*--wait/);
      assert.match(explainOpenFailure("permission", "/dev/ttyUSB7", new Error("x")), /permission denied opening \/dev\/ttyUSB7[\s\S]*join the dialout group, then log out and back in[\s\S]*sudo usermod -aG dialout \$USER/);
      assert.match(explainOpenFailure("busy", "/dev/ttyUSB7", new Error("x")), /in use by another program.*esptool/);
      assert.equal(explainOpenFailure("not-serial", "/etc/hosts", new Error("Error: Inappropriate ioctl for device")), "/etc/hosts is not a serial port (Inappropriate ioctl for device).");
      assert.equal(explainOpenFailure("other", "/dev/x", new Error("Error: Input/output error")), "cannot open /dev/x: Input/output error");
    });
  });
});
