/**
 * manifest.json, checked without the Moddable SDK: what CI can know about the firmware's
 * build. Every module the firmware imports (followed from its entry, hosts/moddable/main.ts)
 * must be mapped and preloaded, or the chip fails at boot with "module not found"; the config
 * it ships must parse with src/device/config.ts; the platforms and TypeScript options must be the
 * ones the SDK's pitfalls ask for. (With the SDK, `npm run check:moddable` builds it.)
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { DEFAULT_DEVICE_CONFIG, parseDeviceConfig } from "../src/device/config.js";
import { REPO_ROOT } from "./support/child-process.js";

interface Manifest {
  include: string[];
  creation: { main: string; static: number; stack: number; chunk: { initial: number }; heap: { initial: number } };
  config: Record<string, unknown>;
  modules: Record<string, string | string[]>;
  preload: string[];
  typescript: { tsconfig: { compilerOptions: Record<string, unknown> } };
  platforms: Record<string, { include?: string[]; modules?: Record<string, string | string[]>; preload?: string[]; config?: Record<string, unknown>; error?: string }>;
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "manifest.json"), "utf8")) as Manifest;

/** Our modules reachable from `entry` (repo-relative paths without ".ts"), following relative imports. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (module: string): void => {
    if (seen.has(module)) return;
    seen.add(module);
    const source = readFileSync(join(REPO_ROOT, module + ".ts"), "utf8");
    // import ... from "./x.js" / export ... from "../y.js" (type-only imports are erased).
    for (const match of source.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+"(\.{1,2}\/[^"]+)\.js"/gms)) {
      if (match[2]) continue;
      visit(normalize(join(dirname(module), match[3]!)).replace(/\\/g, "/"));
    }
  };
  visit(entry);
  return seen;
}

describe("manifest.json (the firmware's build for mcconfig)", function () {
  const entry = manifest.creation.main;
  const modules = reachable(entry);
  const preloaded = new Set([...manifest.preload, ...(manifest.platforms.esp32?.preload ?? [])]);

  it("starts the firmware at hosts/moddable/main", function () {
    assert.equal(entry, "hosts/moddable/main");
  });

  /** Modules each platform maps to a source of its own (the manifest, not a runtime `if`, picks it). */
  const PER_PLATFORM = ["hosts/moddable/button", "hosts/moddable/console"];

  it("maps every module the firmware imports, under its own path (so XS resolves relative imports)", function () {
    for (const module of modules) {
      if (PER_PLATFORM.includes(module)) continue;
      assert.equal(manifest.modules[module], `./${module}`, `${module} is imported but not mapped in manifest.json "modules"`);
    }
  });

  it("maps the per-platform modules in every platform, to a source that exists", function () {
    for (const module of PER_PLATFORM) {
      assert.ok(modules.has(module), `${module} is imported`);
      assert.equal(manifest.modules[module], undefined, `${module} is mapped per platform, not for all`);
      for (const platform of ["esp32", "lin", "mac", "win"]) {
        const source = manifest.platforms[platform]!.modules![module];
        assert.equal(typeof source, "string", `${platform} maps ${module}`);
        assert.ok(existsSync(join(REPO_ROOT, `${source as string}.ts`)), `${platform}: ${String(source)}.ts`);
      }
    }
    assert.equal(manifest.platforms.esp32!.modules!["hosts/moddable/button"], "./hosts/moddable/button-esp32");
  });

  /** The modules of ours a platform maps itself, to a source of its own (hosts/moddable/console). */
  const FIRMWARE_PLATFORMS = ["esp32", "lin", "mac", "win"];
  const perPlatform = (module: string): Array<string | string[] | undefined> =>
    FIRMWARE_PLATFORMS.map((platform) => manifest.platforms[platform]?.modules?.[module]);

  it("maps hosts/moddable/console per platform: UART0 on the ESP32 (with the SDK's serial), none in the simulator", function () {
    assert.equal(manifest.modules["hosts/moddable/console"], undefined, "one source per platform, never both");
    assert.deepEqual(perPlatform("hosts/moddable/console"), ["./hosts/moddable/console", "./hosts/moddable/console-sim", "./hosts/moddable/console-sim", "./hosts/moddable/console-sim"]);
    assert.equal(manifest.platforms.esp32!.modules!["embedded:io/serial"], "$(MODULES)/io/serial/esp32/*");
    assert.ok(manifest.platforms.esp32!.preload!.includes("hosts/moddable/console"));
    assert.ok(manifest.platforms.esp32!.preload!.includes("embedded:io/serial"));
    assert.deepEqual(manifest.platforms.esp32!.config, { factoryResetPin: 0, consoleTransmit: 1, consoleReceive: 3 });
  });

  it("maps only modules that exist", function () {
    for (const [name, source] of Object.entries(manifest.modules)) {
      if (name === "*") continue;
      // The SDK's modules ($(MODDABLE)/...) are checked by mcconfig; ours are sources or declarations.
      for (const path of (Array.isArray(source) ? source : [source]).filter((path) => path.startsWith("./"))) {
        assert.ok(existsSync(join(REPO_ROOT, path + ".ts")) || existsSync(join(REPO_ROOT, path + ".d.ts")), `${name}: ${path}.ts does not exist`);
      }
    }
    for (const platform of FIRMWARE_PLATFORMS) {
      for (const [name, source] of Object.entries(manifest.platforms[platform]?.modules ?? {})) {
        if (typeof source === "string" && source.startsWith("./")) assert.ok(existsSync(join(REPO_ROOT, source + ".ts")), `${platform}: ${name}: ${source}.ts does not exist`);
      }
    }
  });

  it("maps every source file of hosts/moddable (one per module, no stray ones; the chip's per platform)", function () {
    const files = readdirSync(join(REPO_ROOT, "hosts", "moddable")).filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"));
    const mappedByPlatforms = new Set(Object.values(manifest.platforms).flatMap((section) => Object.values(section.modules ?? {}).flat()));
    for (const file of files) {
      const module = `hosts/moddable/${file.slice(0, -3)}`;
      assert.ok(module in manifest.modules || mappedByPlatforms.has(`./${module}`), `${module} is not in manifest.json "modules"`);
    }
  });

  it("chooses hosts/moddable/chip per platform: the SDK's resetReason and esp_restart() on the ESP32, neither in the simulator", function () {
    const esp32 = manifest.platforms.esp32!;
    assert.deepEqual(esp32.modules!["hosts/moddable/chip"], ["./hosts/moddable/chip", "$(MODDABLE)/build/devices/esp32/modules/resetReason/resetReason.c"]);
    assert.ok(existsSync(join(REPO_ROOT, "hosts", "moddable", "chip.c")), "esp_restart() in C");
    for (const platform of ["lin", "mac", "win"]) {
      assert.equal(manifest.platforms[platform]!.modules!["hosts/moddable/chip"], "./hosts/moddable/chip-sim", platform);
    }
    assert.ok(manifest.preload.includes("hosts/moddable/chip"));
  });

  it("chooses hosts/moddable/firmware per platform: updates on the ESP32 (OTA partitions, app rollback, the SDK's flash), none in the simulator", function () {
    const esp32 = manifest.platforms.esp32! as Manifest["platforms"][string] & { defines?: { ota?: { autosplit?: number } } };
    assert.equal(esp32.modules!["hosts/moddable/firmware"], "./hosts/moddable/firmware");
    assert.ok(existsSync(join(REPO_ROOT, "hosts", "moddable", "firmware.c")), "ESP-IDF's rollback calls in C");
    assert.equal(esp32.defines?.ota?.autosplit, 1, "ota_0, ota_1 and otadata instead of one factory partition");
    assert.ok(esp32.include!.includes("$(MODDABLE)/modules/io/flash/manifest.json"), "embedded:storage/flash");
    for (const platform of ["lin", "mac", "win"]) {
      assert.equal(manifest.platforms[platform]!.modules!["hosts/moddable/firmware"], "./hosts/moddable/firmware-sim", platform);
    }
    assert.ok(manifest.preload.includes("hosts/moddable/firmware"));
    const defaults = readFileSync(join(REPO_ROOT, "hosts", "moddable", "sdkconfig", "sdkconfig.defaults"), "utf8");
    assert.ok(defaults.split("\n").includes("CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y"), "a new image boots pending and is rolled back unless confirmed");
  });

  it("turns the ESP32's task watchdog on (the SDK leaves it off): 5 s, then a panic and a reset", function () {
    const build = (manifest.platforms.esp32 as { build?: Record<string, string> }).build!;
    assert.equal(build.SDKCONFIGPATH, "./hosts/moddable/sdkconfig");
    const defaults = readFileSync(join(REPO_ROOT, "hosts", "moddable", "sdkconfig", "sdkconfig.defaults"), "utf8");
    for (const line of ["CONFIG_ESP_TASK_WDT_EN=y", "CONFIG_ESP_TASK_WDT_INIT=y", "CONFIG_ESP_TASK_WDT_TIMEOUT_S=5", "CONFIG_ESP_TASK_WDT_PANIC=y"]) {
      assert.ok(defaults.split("\n").includes(line), line);
    }
  });

  it("preloads every module of ours on the ESP32 (code and constants in flash, not RAM)", function () {
    for (const module of [...Object.keys(manifest.modules).filter((name) => name !== "*"), ...PER_PLATFORM]) {
      assert.ok(preloaded.has(module), `${module} is not preloaded`);
    }
  });

  it("ships a config that src/device/config.ts accepts, with every key it knows", function () {
    for (const key of Object.keys(DEFAULT_DEVICE_CONFIG)) assert.ok(key in manifest.config, `config.${key} is missing`);
    assert.doesNotThrow(() => parseDeviceConfig(manifest.config));
    for (const platform of ["lin", "mac", "win"]) {
      const config = { ...manifest.config, ...manifest.platforms[platform]!.config };
      assert.doesNotThrow(() => parseDeviceConfig(config), platform);
      assert.notEqual(config.ssid, "", `${platform}: the simulator's WiFi needs an ssid to join`);
    }
  });

  it("includes Moddable's TLS and maps embedded:io/socket/tcp/tls to the SDK's socket, with our declaration for tsc", function () {
    assert.ok(manifest.include.includes("$(MODDABLE)/modules/crypt/tls_419.json"), "the TLS 1.2 session and its crypto, for every platform");
    const tls = manifest.modules["embedded:io/socket/tcp/tls"];
    assert.deepEqual(tls, ["$(MODDABLE)/examples/io/tcp/tlssocket/tlssocket", "./hosts/moddable/tls-socket"]);
    assert.ok(manifest.preload.includes("embedded:io/socket/tcp/tls"));
    // hosts/moddable/tsconfig.json resolves the specifier to the same declaration.
    const tsconfig = JSON.parse(readFileSync(join(REPO_ROOT, "hosts", "moddable", "tsconfig.json"), "utf8")) as { compilerOptions: { paths: Record<string, string[]> } };
    assert.deepEqual(tsconfig.compilerOptions.paths["embedded:io/socket/tcp/tls"], ["./tls-socket.d.ts"]);
  });

  it("builds the certificates in certs/ into the firmware as resources (the CA named by config.ca)", function () {
    const resources = (manifest as unknown as { resources: Record<string, string[]> }).resources;
    assert.deepEqual(resources["*"], ["./certs/*"]);
    // mcconfig stops on a resources folder that does not exist; it skips names starting with ".".
    assert.ok(existsSync(join(REPO_ROOT, "certs")), "certs/ is in the repository");
    const files = readdirSync(join(REPO_ROOT, "certs"));
    assert.ok(files.some((name) => name.startsWith(".")), "a dotfile keeps certs/ in git");
    assert.equal(manifest.config.ca, "", "no CA by default: a ws:// build needs none");
  });

  it("type-checks with noEmitOnError, so a second mcconfig -m cannot link code that failed", function () {
    assert.equal(manifest.typescript.tsconfig.compilerOptions.noEmitOnError, true);
    assert.equal(manifest.typescript.tsconfig.compilerOptions.strict, true);
  });

  it("builds for esp32, lin, mac and win, and names the platforms for any other", function () {
    for (const platform of ["esp32", "lin", "mac", "win"]) {
      const section = manifest.platforms[platform]!;
      assert.ok(section, platform);
      assert.equal(section.error, undefined);
      assert.ok(section.include?.includes("$(MODULES)/network/wifi/manifest.json"), `${platform} includes the wifi module`);
      assert.ok(section.modules?.["embedded:io/socket/tcp"], `${platform} maps embedded:io/socket/tcp`);
    }
    assert.match(manifest.platforms["..."]!.error!, /esp32.*lin, mac, win/);
  });

  it("does not include the SDK's network setup, which would join config.ssid before main", function () {
    const includes = [...manifest.include, ...Object.values(manifest.platforms).flatMap((section) => section.include ?? [])];
    for (const include of includes) {
      assert.doesNotMatch(include, /manifest_net\.json|network\/net\/manifest\.json|modules\/io\/manifest\.json/, include);
    }
  });

  it("sizes the XS machine for an ESP32 (about 100 KB for XS): under 96 KB at start", function () {
    const { creation } = manifest;
    assert.equal(creation.static, 0, "the ESP32's RAM is not contiguous: no single static block");
    // Slots are 16 bytes on the ESP32's 32-bit XS.
    const bytes = creation.chunk.initial + creation.heap.initial * 16 + creation.stack * 16;
    assert.ok(bytes <= 96 * 1024, `${bytes} bytes`);
  });

  it("gives the chunk heap room for a largest message's bytes and text beside the device's own, without growing", function () {
    // XS grows its chunk heap by a block of at least the chunk asked for: a 16 KiB buffer that
    // does not fit would add 16 KiB at once, which the ESP32 cannot spare. The device's own
    // chunks are about 18.6 KiB connected (npm run bench, xs_device_chunk_bytes): 19 KiB here.
    const { creation } = manifest;
    const maxMessageBytes = Number(manifest.config.maxMessageBytes);
    assert.equal(maxMessageBytes, DEFAULT_DEVICE_CONFIG.maxMessageBytes);
    const need = 19 * 1024 + 2 * maxMessageBytes;
    assert.ok(creation.chunk.initial >= need, `chunk.initial ${creation.chunk.initial} < ${need}`);
  });

  it("reaches the whole device from its entry", function () {
    // A sanity check of the import walk itself.
    for (const module of ["src/device/device", "src/websocket/client", "src/device/config", "hosts/moddable/host", "hosts/moddable/tcp", "hosts/moddable/tls", "hosts/moddable/tls-handshake"]) {
      assert.ok(modules.has(module), `${module} (from ${relative(REPO_ROOT, join(REPO_ROOT, entry))})`);
    }
  });
});
