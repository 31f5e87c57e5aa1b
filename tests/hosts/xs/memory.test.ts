/**
 * Memory inside XS: the echo agent's heap (live slots after a garbage collection, from
 * xsnap's meter) must not grow with the number of messages it has echoed.
 */
import assert from "node:assert/strict";
import { WebSocketServer, type WebSocket as ServerSocket } from "ws";
import { XsEngine } from "../../../hosts/xs/engine.js";
import { until, within } from "../../support/wait.js";

describe("the XS heap under traffic (hosts/xs)", function () {
  this.timeout(20_000);

  it("stays the same size after 2,000 echoed messages as after 100", async function () {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
    let server: ServerSocket | undefined;
    let echoed: (() => void) | undefined;
    wss.on("connection", (socket) => {
      server = socket;
      socket.on("message", () => echoed?.());
    });
    const engine = await XsEngine.start({ log: () => {} });
    try {
      await engine.startProgram("echo-agent", { url }, () => {});
      await until(() => server !== undefined, 3000, "the agent's connection");
      const exchange = async (count: number, text: string) => {
        for (let i = 0; i < count; i++) {
          await within(new Promise<void>((resolve) => ((echoed = resolve), server!.send(i % 2 ? text : Buffer.from(text)))), 2000, `echo #${i}`);
        }
      };
      await exchange(100, "x".repeat(64));
      const after100 = (await engine.heap()).currentHeapCount;
      await exchange(2000, "x".repeat(64));
      const after2100 = (await engine.heap()).currentHeapCount;
      assert.ok(after2100 <= after100 + 16, `live slots: ${after100} after 100 messages, ${after2100} after 2,100`);
      assert.deepEqual(engine.failures, []);
    } finally {
      await engine.close();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
