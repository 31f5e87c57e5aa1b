/**
 * The portal's HTTP server (src/provisioning/http-server.ts) over the Node host's real TCP
 * listener, driven by raw sockets on 127.0.0.1: one answer per connection, then the close;
 * the safety headers; HEAD; a handler's throw; and every bound: a slow client, a silent one,
 * too many at once (a silent one yields first), a body refused before it is read, whose
 * answer still reaches the client.
 */
import assert from "node:assert/strict";
import { HttpServer, type HttpResponse } from "../../src/provisioning/http-server.js";
import type { HttpRequest } from "../../src/provisioning/http-request.js";
import { nodeTimers } from "../../hosts/node/host.js";
import { NodeTcpListener } from "../../hosts/node/listener.js";
import { formPost, rawRequest } from "../support/raw-http.js";
import { closedPort, delay, until } from "../support/wait.js";

interface Served {
  server: HttpServer;
  port: number;
  requests: HttpRequest[];
  logs: Array<{ event: string; fields: Record<string, unknown> }>;
}

async function serve(options: { limits?: ConstructorParameters<typeof HttpServer>[0]["limits"]; handle?: (request: HttpRequest) => HttpResponse } = {}): Promise<Served> {
  const port = await closedPort();
  const requests: HttpRequest[] = [];
  const logs: Served["logs"] = [];
  const server = new HttpServer({
    listener: NodeTcpListener,
    timers: nodeTimers,
    port,
    address: "127.0.0.1",
    log: (_level, event, fields) => logs.push({ event, fields: fields ?? {} }),
    ...(options.limits ? { limits: options.limits } : {}),
    handle:
      options.handle ??
      ((request) => {
        requests.push(request);
        return { status: 200, body: `<p>you asked for ${request.path}</p>` };
      }),
    errorPage: (error) => ({ status: error.status, body: `error ${error.status}: ${error.message}` }),
  });
  await until(() => server.port === port, 2000, "the listener");
  await delay(20);
  return { server, port, requests, logs };
}

describe("the portal's HTTP server", function () {
  this.timeout(20_000);
  let served: Served | undefined;
  afterEach(() => {
    served?.server.close();
    served = undefined;
  });

  it("answers one request, with the safety headers, and closes", async () => {
    served = await serve();
    const answer = await rawRequest(served.port, ["GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "<p>you asked for /x</p>");
    assert.equal(answer.headers.get("content-length"), String(Buffer.byteLength(answer.body)));
    assert.equal(answer.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(answer.headers.get("connection"), "close");
    assert.equal(answer.headers.get("cache-control"), "no-store");
    assert.equal(answer.headers.get("x-content-type-options"), "nosniff");
    assert.match(answer.headers.get("content-security-policy")!, /default-src 'none'.*form-action 'self'/);
    assert.ok(answer.closedCleanly);
    assert.equal(served.requests[0]!.query, "y=1");
  });

  it("HEAD: the GET's head and length, no body", async () => {
    served = await serve();
    const answer = await rawRequest(served.port, ["HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-length"), String("<p>you asked for /</p>".length));
    assert.equal(answer.body, "");
  });

  it("a request sent a byte at a time is read whole", async () => {
    served = await serve();
    const request = formPost("a", "ssid=x&password=y");
    const answer = await rawRequest(served.port, Array.from(request), { pauseMs: 1 });
    assert.equal(answer.status, 200);
    assert.equal(Buffer.from(served.requests[0]!.body).toString(), "ssid=x&password=y");
  });

  it("a handler that throws: 500, logged, the server carries on", async () => {
    served = await serve({
      handle: () => {
        throw new Error("bug");
      },
    });
    assert.equal((await rawRequest(served.port, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n"])).status, 500);
    assert.ok(served.logs.some((l) => l.event === "portal_handler_failed"));
    assert.equal((await rawRequest(served.port, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n"])).status, 500);
  });

  it("garbage gets its error page, escaped by the page's maker, and the connection closes", async () => {
    served = await serve();
    const answer = await rawRequest(served.port, ["\u0016\u0003\u0001 hello TLS\r\n\r\n"]);
    assert.equal(answer.status, 400);
    assert.match(answer.body, /control byte 0x16/);
    assert.ok(answer.closedCleanly);
    assert.equal(served.requests.length, 0);
  });

  it("a huge body is refused with 413 from its Content-Length, and the client reads the answer", async () => {
    served = await serve();
    const head = "POST /save HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000000\r\n\r\n";
    const body = Buffer.alloc(256 * 1024, "a");
    const answer = await rawRequest(served.port, [head, body, body, body]);
    assert.equal(answer.status, 413);
    assert.match(answer.body, /5000000 bytes is more than the 2048 accepted/);
  });

  it("a client too slow to send its request gets 408 after requestTimeoutMs", async () => {
    served = await serve({ limits: { requestTimeoutMs: 300 } });
    const started = Date.now();
    const answer = await rawRequest(served.port, ["GET / HTTP/1.1\r\n", "Host: a\r\n"], { pauseMs: 100 });
    assert.equal(answer.status, 408);
    assert.ok(Date.now() - started >= 280);
    assert.equal(served.server.counts.timeouts, 1);
  });

  it("a client that never says anything is closed without a word", async () => {
    served = await serve({ limits: { requestTimeoutMs: 200 } });
    const answer = await rawRequest(served.port, []);
    assert.equal(answer.text, "");
    assert.equal(served.server.open, 0);
  });

  it("at most maxConnections: a silent one makes room; when all are busy the newcomer is closed", async () => {
    served = await serve({ limits: { maxConnections: 2, requestTimeoutMs: 2_000 } });
    const { port } = served;
    // Two clients that started a request and stall.
    const stalled = [rawRequest(port, ["GET / HTTP/1.1\r\n"], { timeoutMs: 5_000 }), rawRequest(port, ["GET / HTTP/1.1\r\n"], { timeoutMs: 5_000 })];
    await until(() => served!.server.open === 2, 2000, "two connections");
    await delay(100);
    const turnedAway = await rawRequest(port, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert.equal(turnedAway.status, undefined, "closed without an answer");
    assert.equal(served.server.counts.refused, 1);
    const [first, second] = await Promise.all(stalled);
    assert.equal(first!.status, 408);
    assert.equal(second!.status, 408);

    // Silent connections (a browser's preconnections) yield to a real request.
    const silent = [rawRequest(port, [], { timeoutMs: 5_000 }), rawRequest(port, [], { timeoutMs: 5_000 })];
    await until(() => served!.server.open === 2, 2000, "two silent connections");
    const served3 = await rawRequest(port, ["GET /real HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert.equal(served3.status, 200);
    await Promise.all(silent);
  });

  it("closes every connection and stops listening on close()", async () => {
    served = await serve();
    const hanging = rawRequest(served.port, ["GET / HTTP/1.1\r\n"]);
    await until(() => served!.server.open === 1, 2000, "a connection");
    served.server.close();
    const answer = await hanging;
    assert.equal(answer.status, undefined);
    const refused = await rawRequest(served.port, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert.equal(refused.error, "ECONNREFUSED");
  });

  it("checks its limits", () => {
    assert.throws(
      () => new HttpServer({ listener: NodeTcpListener, timers: nodeTimers, port: 1, limits: { maxConnections: 0 }, handle: () => ({ status: 200 }), errorPage: () => ({ status: 500 }) }),
      /option limits\.maxConnections must be an integer from 1 to 64/,
    );
  });
});
