/**
 * Startup: from starting the device's process (node dist/hosts/node/device.js, as a user runs
 * it, on Node or with --engine xs) to its first message, the hello, arriving at a `ws` server
 * in the bench's own process. WiFi is not simulated (--no-wifi: the simulated access point's
 * delays are made up) and the storage is a fresh file each time (a first boot).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { WebSocketServer } from "ws";
import { REPO_ROOT } from "./processes.js";

export type StartupEngine = "node" | "xs";

const WAIT_MS = 30_000;

/** Milliseconds from spawning the device on `engine` to its hello at the server. */
export async function startupToHello(engine: StartupEngine): Promise<number> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const port = (wss.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), "moorline-startup-"));
  let stderr = "";
  try {
    const hello = new Promise<number>((resolve) => {
      wss.on("connection", (socket) => {
        socket.on("error", () => {});
        socket.once("message", () => resolve(performance.now()));
      });
    });
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, "dist", "hosts", "node", "device.js"),
        "--url", `ws://127.0.0.1:${port}/`,
        "--no-wifi",
        "--device-id", `startup-${engine}`,
        "--storage", join(dir, "device.json"),
        "--log-format", "json",
        "--log-level", "warn",
        ...(engine === "xs" ? ["--engine", "xs"] : []),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-2000)));
    const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`the device exited (${code}) before its hello: ${stderr}`))));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no hello within ${WAIT_MS} ms: ${stderr}`)), WAIT_MS)));
    try {
      const at = await Promise.race([hello, exited, deadline]);
      return at - started;
    } finally {
      clearTimeout(timer);
      child.kill("SIGKILL");
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once("exit", resolve)));
    }
  } finally {
    for (const socket of wss.clients) socket.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}
