/**
 * The supervisor switching servers (src/device/supervisor.ts setUrl(), what provisioning
 * uses to try a new URL and to put the old one back): checked as the constructor checks a
 * URL, the open connection closed with 1001, an attempt dropped, a backoff cut short, the
 * backoff afresh; on a virtual clock with the fake client of tests/support/supervisor-harness.ts.
 */
import assert from "node:assert/strict";
import { CloseCode } from "../../src/websocket/constants.js";
import { ErrorCode } from "../../src/shared/errors.js";
import { SupervisorState } from "../../src/device/supervisor.js";
import { harness, URL } from "../support/supervisor-harness.js";

const OTHER = "ws://other.example:9000/device";

describe("ConnectionSupervisor.setUrl()", () => {
  it("closes the open connection with 1001 and connects to the new URL next", () => {
    const h = harness();
    h.client.open();
    h.supervisor.setUrl(OTHER);
    assert.equal(h.supervisor.url, OTHER);
    assert.deepEqual(h.client.closeCalls, [{ code: CloseCode.GOING_AWAY, reason: "server changed" }]);
    h.client.closed({ code: CloseCode.GOING_AWAY, wasClean: true });
    assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
    h.clock.advance(h.closes.at(-1)!.retryInMs!);
    assert.equal(h.clients.length, 2);
    assert.equal(h.client.options.url, OTHER);
    assert.deepEqual(h.events("ws_url_changed").map((e) => e.fields), [{ url: OTHER }]);
  });

  it("drops an attempt under way, and cuts a backoff wait short", () => {
    const h = harness();
    h.supervisor.setUrl(OTHER);
    assert.equal(h.clients[0]!.terminations[0]?.code, ErrorCode.CONNECT_FAILED);
    assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
    h.supervisor.setUrl(URL);
    assert.equal(h.supervisor.state, SupervisorState.CONNECTING, "the wait is over: connecting to the URL given");
    assert.equal(h.client.options.url, URL);
  });

  it("starts the backoff afresh: the new server owes nothing to the old one's failures", () => {
    const h = harness();
    for (let i = 0; i < 5; i++) {
      h.client.refuse();
      h.clock.advance(h.closes.at(-1)!.retryInMs!);
    }
    assert.equal(h.supervisor.stats.consecutiveFailures, 5);
    h.supervisor.setUrl(OTHER);
    assert.ok(h.supervisor.stats.consecutiveFailures <= 1);
  });

  it("before start() or while waiting for the network, only the URL changes", () => {
    const h = harness({ networkUp: false });
    h.supervisor.setUrl(OTHER);
    assert.equal(h.clients.length, 0);
    assert.equal(h.supervisor.state, SupervisorState.WAITING_FOR_NETWORK);
    h.supervisor.setNetwork(true);
    assert.equal(h.client.options.url, OTHER);
  });

  it("refuses a bad URL, and a ws:// URL with TLS options, changing nothing", () => {
    const h = harness();
    assert.throws(() => h.supervisor.setUrl("http://x/"), (error: Error & { code?: string }) => error.code === ErrorCode.INVALID_URL);
    assert.equal(h.supervisor.url, URL);
    const tls = harness({ url: "wss://device.example/", client: { tls: { insecure: true } } });
    assert.throws(() => tls.supervisor.setUrl("ws://device.example/"), /tls/);
    assert.equal(tls.supervisor.url, "wss://device.example/");
    assert.equal(tls.clients.length, 1, "the connection in place is not touched");
  });
});
