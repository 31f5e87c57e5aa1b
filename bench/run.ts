/**
 * `npm run bench`: our client and firmware measured side by side with the `ws` package's
 * client and Python's `websockets` client, against a `ws` server on 127.0.0.1, each figure
 * printed as a ratio to the ws client's measured in the same run (our client runs twice: on
 * Node, and inside XS through the desktop XS host); and the figures that have no reference:
 * XS compute and heap, the whole device's memory in XS, memory, reconnect time, startup and
 * the firmware's flash footprint, a fleet of simulated devices.
 *
 *   npm run bench                     everything (several minutes)
 *   npm run bench -- --quick          a smaller run, a minute or two
 *   npm run bench -- --json           one JSON record per figure on stdout (the table on stderr)
 *   npm run bench -- --chart          also write docs/benchmarks.svg and docs/benchmarks.json
 *   npm run bench -- --write-docs     everything and the profiles, then write docs/benchmarks.md
 *                                     (bench/benchmarks-page.md filled with this run's output),
 *                                     docs/benchmarks.svg and docs/benchmarks.json
 *   npm run bench -- --only xs,fleet  some sections: xs, clients, memory, reconnect, startup, fleet,
 *                                     flash, mqtt, profile
 *   npm run bench -- --runs 7         repetitions of the client runs (default 5, quick 3)
 *   npm run bench -- --profile        also profile an echo: on Node (node --cpu-prof, top frames)
 *                                     and in XS (meter steps per function, exact)
 *
 * The flash footprint needs the Moddable SDK ($MODDABLE, its tools built); without it that part
 * says it was skipped.
 *
 * Exit status 1 when the XS heap grew (the echo agent over 10,000 messages, the device over
 * its messages and reconnects) or a section failed; a missed speed target is reported
 * (met/missed with the numbers) without failing.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { renderChart } from "./chart.js";
import { clientsSection, printClients } from "./clients-section.js";
import { renderDocsPage, Transcript } from "./docs-page.js";
import { footprintUnavailable } from "./footprint.js";
import { mqttFleetSection } from "./mqtt-fleet.js";
import { FULL, KINDS, QUICK, SIZES, type Output, type Plan } from "./plan.js";
import { nodeProfileSection } from "./profile.js";
import { PYTHON, REPO_ROOT } from "./processes.js";
import { num, ratioText, sizeLabel, table, type Engine, type FigureRecord } from "./report.js";
import { fleetSection, flashSection, memorySection, reconnectSection, startupSection } from "./system-sections.js";
import { CLIENTS, type ClientName, type Kind } from "./tasks.js";
import { deviceHeapSection, xsProfileSection, xsSection } from "./xs-section.js";
import { ESP32_XS_BYTES } from "./device-budget.js";

const SECTIONS = ["xs", "clients", "memory", "reconnect", "startup", "fleet", "flash", "mqtt"] as const;
/**
 * XS compute per 64 B echo before issue 16 (npm run bench at its start: e8bc46d), and the
 * targets: half of it.
 */
const XS_TEXT_STEPS_BEFORE = 7_135;
const XS_BINARY_STEPS_BEFORE = 6_271;
const XS_TEXT_STEPS_TARGET = 3_500;
const XS_BINARY_STEPS_TARGET = Math.floor(XS_BINARY_STEPS_BEFORE / 2);

/** Run only when asked: --profile, or --only profile. */
const OPTIONAL = ["profile"] as const;
type Section = (typeof SECTIONS)[number] | (typeof OPTIONAL)[number];


// --- output -------------------------------------------------------------------------------

let asJson = false;
/** What was said, for docs/benchmarks.md (--write-docs). */
let transcript: Transcript | undefined;
const say = (text = ""): void => {
  (asJson ? process.stderr : process.stdout).write(`${text}\n`);
  transcript?.add(text);
};
const progress = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};
const out: Output = { say, progress };

// --- targets ------------------------------------------------------------------------------

function printTargets(records: FigureRecord[], sections: Set<Section>, heapOk: boolean | undefined): void {
  const lines: string[][] = [["target", "measured", "verdict"]];
  const find = (figure: string, client: string, size: number | null, kind: Kind | null, engine?: Engine) =>
    records.find((r) => r.figure === figure && r.client === client && r.size === size && r.kind === kind && (!engine || r.engine === engine));
  if (sections.has("clients")) {
    for (const size of SIZES) {
      for (const kind of KINDS) {
        const ratio = find("R", "moorline", size, kind)?.ratioToWs;
        if (!ratio) continue;
        const met = ratio.median >= 1;
        lines.push([
          `echo throughput on Node >= ws client, ${sizeLabel(size)} ${kind}`,
          `${ratioText(ratio)} of ws`,
          met ? "met" : `MISSED by ${((1 - ratio.median) * 100).toFixed(0)}%`,
        ]);
      }
    }
    const tc = find("Tc", "moorline", null, null)?.ratioToWs;
    if (tc) {
      lines.push(["Tc <= 1.2x ws client", `${ratioText(tc)} of ws`, tc.median <= 1.2 ? "met" : `MISSED by ${((tc.median / 1.2 - 1) * 100).toFixed(0)}%`]);
    }
  }
  if (sections.has("xs")) {
    for (const [kind, limit, was] of [["text", XS_TEXT_STEPS_TARGET, XS_TEXT_STEPS_BEFORE], ["binary", XS_BINARY_STEPS_TARGET, XS_BINARY_STEPS_BEFORE]] as const) {
      const steps = find("xs_compute_per_echo", "moorline", 64, kind);
      if (!steps) continue;
      lines.push([
        `XS compute per 64 B ${kind} echo <= ${limit.toLocaleString("en-US")} steps (half of ${was.toLocaleString("en-US")})`,
        `${num(steps.median, 5)} steps`,
        steps.median <= limit ? "met" : `MISSED by ${num(steps.median - limit)} steps`,
      ]);
    }
  }
  if (heapOk !== undefined) {
    const growth = find("xs_heap_growth", "moorline", 64, null);
    const messages = find("xs_device_growth_messages", "moorline", 64, null);
    const reconnects = find("xs_device_growth_reconnects", "moorline", null, null);
    lines.push(["no XS heap growth over 10,000 messages (echo agent)", `${growth?.median ?? "?"} slots`, (growth?.median ?? 1) <= 0 ? "met" : "MISSED"]);
    if (messages && reconnects) {
      lines.push([
        "no growth of the whole device in XS: messages, reconnects",
        `${messages.median} slots (${messages.note?.split("chunk bytes: ")[1] ?? "?"} chunk bytes), ${reconnects.median} slots (${reconnects.note?.split("chunk bytes: ")[1] ?? "?"} chunk bytes)`,
        heapOk ? "met" : "MISSED",
      ]);
    }
    const esp32 = find("xs_device_esp32_bytes", "moorline", null, null);
    if (esp32) {
      const fits = esp32.median <= ESP32_XS_BYTES;
      lines.push([
        `the device fits an ESP32 without PSRAM under manifest.json's creation (XS <= ${ESP32_XS_BYTES.toLocaleString("en-US")} B)`,
        `${esp32.median.toLocaleString("en-US")} B at its worst`,
        fits ? `met, margin ${(ESP32_XS_BYTES - esp32.median).toLocaleString("en-US")} B` : "MISSED",
      ]);
    }
  }
  const fleet = find("fleet_p99_rtt", "moorline", null, null);
  const ten = records.find((r) => r.figure === "fleet_p99_rtt" && r.devices === 10_000);
  if (sections.has("fleet")) {
    if (ten) {
      lines.push([
        `10,000 devices, p99 RTT < 100 ms on 2 cores (this machine: ${cpus().length})`,
        `${num(ten.median)} ms`,
        ten.median < 100 ? "met" : `MISSED by ${num(ten.median - 100)} ms`,
      ]);
    } else if (fleet) {
      lines.push(["10,000 devices, p99 RTT < 100 ms on 2 cores", `not run (quick mode ran ${fleet.devices} devices: ${num(fleet.median)} ms)`, "not measured"]);
    }
  }
  say(lines.length > 1 ? table(lines) : "(no target in these sections)");
}

// --- the run ------------------------------------------------------------------------------

/** A bad command line: its message is printed alone, exit status 2. */
class UsageError extends Error {}

function pythonHasWebsockets(): string | undefined {
  try {
    return execFileSync(PYTHON, ["-c", "import websockets, sys; print(websockets.__version__, sys.version.split()[0])"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

/** The commit the bench ran at (short; "+" when the work tree had changes), or undefined. */
function gitCommit(): string | undefined {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: REPO_ROOT, encoding: "utf8" }).trim() !== "";
    return `${commit}${dirty ? "+" : ""}`;
  } catch {
    return undefined;
  }
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        chart: { type: "boolean", default: false },
        profile: { type: "boolean", default: false },
        "write-docs": { type: "boolean", default: false },
        only: { type: "string" },
        runs: { type: "string" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]!.replace(/^\/\*\*?|^ \* ?/gm, "") + "\n");
    return 0;
  }
  asJson = values.json;
  const writeDocs = values["write-docs"];
  if (writeDocs) {
    // The page shows every section of one run: a part of one would leave the rest stale.
    if (values.only !== undefined) throw new UsageError("--write-docs runs every section: leave out --only");
    transcript = new Transcript();
    const noSdk = footprintUnavailable();
    if (noSdk !== undefined) progress(`--write-docs without the Moddable SDK (${noSdk}): the page will say the flash footprint was skipped`);
  }
  const plan: Plan = { ...(values.quick ? QUICK : FULL) };
  if (values.runs !== undefined) {
    const runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer, got ${values.runs}`);
    plan.runs = runs;
  }
  const sections = new Set<Section>(
    values.only === undefined
      ? SECTIONS
      : values.only.split(",").map((name) => {
          if (![...SECTIONS, ...OPTIONAL].includes(name as Section)) throw new UsageError(`--only takes ${[...SECTIONS, ...OPTIONAL].join(", ")}; got ${name}`);
          return name as Section;
        }),
  );

  const python = pythonHasWebsockets();
  const clients: ClientName[] = CLIENTS.filter((c) => c !== "websockets" || python !== undefined);
  const started = Date.now();
  const loadBefore = loadavg()[0]!;
  // Before the run writes docs/: what it measured is the commit's code.
  const commit = writeDocs ? gitCommit() : undefined;
  const machine = `${cpus().length} x ${cpus()[0]?.model.trim() ?? "?"}`;
  say(`moorline bench (${plan.name}): ${machine}; Node ${process.version}; ws ${packageVersion("ws")}; ` +
    `Python websockets ${python ?? "absent (apt-get install python3-websockets)"}; XS: @agoric/xsnap ${packageVersion("@agoric/xsnap")}`);
  say();

  const records: FigureRecord[] = [];
  let failed = false;
  let heapOk: boolean | undefined;
  const section = async (name: Section, title: string, body: () => Promise<void>) => {
    if (!sections.has(name)) return;
    say(`== ${title}`);
    const sectionStarted = Date.now();
    try {
      await body();
      progress(`${name}: done in ${((Date.now() - sectionStarted) / 1000).toFixed(0)} s`);
    } catch (error) {
      failed = true;
      say(`FAILED: ${(error as Error).stack ?? String(error)}`);
    }
    say();
  };

  await section("xs", "XS: compute per echoed message, heap, and the whole device's memory", async () => {
    heapOk = await xsSection(plan, records, out);
    heapOk = (await deviceHeapSection(plan, records, out)) && heapOk;
  });
  await section("clients", `Tc, R, D against a ws server on 127.0.0.1 (${plan.runs} runs)`, async () => {
    await clientsSection(plan, clients, records, out);
    printClients(records, clients, out);
  });
  await section("memory", "Memory per connection and per message in flight", () => memorySection(plan, records, out));
  await section("reconnect", "Reconnect after a server restart", () => reconnectSection(plan, records, out));
  await section("startup", "Startup: process start to the first hello, and the firmware's flash footprint", () => startupSection(plan, records, out));
  await section("fleet", "Fleet: simulated devices in one process, telemetry every second", async () => {
    await fleetSection(plan, records, out);
  });
  await section("flash", "Flash wear of the durable outbox (NVS writes per hour)", async () => flashSection(plan, records, out));
  await section("mqtt", "MQTT fleet: the same devices on mosquitto over WebSocket, QoS 1 telemetry every second", () =>
    mqttFleetSection(plan.mqttFleets, records, { say, progress }),
  );

  if (values.profile || writeDocs) sections.add("profile");
  await section("profile", "Profile: our client's pipelined echo (64 B and 16 KB) under node --cpu-prof, top frames by self time", async () => {
    await nodeProfileSection(out);
    say("== Profile: where an echo's XS meter steps go, function by function (64 B)");
    await xsProfileSection(records, out);
  });

  say("== Targets");
  printTargets(records, sections, heapOk);
  say();
  const seconds = (Date.now() - started) / 1000;
  say(`done in ${seconds.toFixed(0)} s`);

  if (asJson) for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
  if (values.chart || writeDocs) {
    const caption = `npm run bench${values.quick ? " -- --quick" : ""} on ${new Date().toISOString().slice(0, 10)}: ${machine}, Node ${process.version}; whiskers: min-max of per-run ratios`;
    mkdirSync(join(REPO_ROOT, "docs"), { recursive: true });
    writeFileSync(join(REPO_ROOT, "docs", "benchmarks.svg"), renderChart(records, caption));
    writeFileSync(join(REPO_ROOT, "docs", "benchmarks.json"), `${JSON.stringify({ date: new Date().toISOString(), mode: plan.name, machine, node: process.version, records }, null, 1)}\n`);
    progress("wrote docs/benchmarks.svg and docs/benchmarks.json");
  }
  if (transcript !== undefined) {
    const run =
      `\`npm run bench -- --write-docs${values.quick ? " --quick" : ""}${values.runs === undefined ? "" : ` --runs ${plan.runs}`}\`` +
      ` on ${new Date().toISOString().slice(0, 10)}${commit ? ` at commit ${commit}` : ""}: ${machine}, Node ${process.version}; ` +
      `done in ${seconds.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end ` +
      `(the bench's own processes included). ${failed || heapOk === false ? "**Some sections failed: see below.** " : ""}` +
      "Its records are in [benchmarks.json](benchmarks.json).";
    const template = readFileSync(join(REPO_ROOT, "bench", "benchmarks-page.md"), "utf8");
    writeFileSync(join(REPO_ROOT, "docs", "benchmarks.md"), renderDocsPage(template, run, transcript));
    progress("wrote docs/benchmarks.md");
  }
  if (heapOk === false) {
    process.stderr.write("bench: FAILED: the XS heap grew with the message count\n");
    return 1;
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message} (see --help)\n`);
      process.exit(2);
    }
    process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
