/** The echo agent (src/websocket/echo-agent.ts) as a program inside XS. */
import { startEchoAgent, type EchoAgent } from "../../../src/websocket/echo-agent.js";
import type { Limits } from "../../../src/websocket/constants.js";
import type { LogLevel } from "../../../src/shared/host.js";
import type { ClientTlsOptions } from "../../../src/websocket/client.js";
import { createXsNetHost } from "./host.js";
import { registerProgram, type Json } from "./programs.js";

registerProgram("echo-agent", (options, emit) => {
  const host = createXsNetHost((options.logLevel as LogLevel | "silent" | undefined) ?? "silent");
  const agent: EchoAgent = startEchoAgent({
    url: options.url as string,
    host,
    ...(options.limits ? { limits: options.limits as unknown as Partial<Limits> } : {}),
    ...(options.tls ? { tls: options.tls as unknown as ClientTlsOptions } : {}),
    onExit: (code, reason) => emit({ event: "exit", code, reason }),
  });
  return {
    call(op) {
      if (op === "stop") {
        agent.stop();
        return;
      }
      if (op === "state") return { value: { echoed: agent.echoed, readyState: agent.client.readyState } as Json };
      throw new Error(`echo-agent: unknown call ${JSON.stringify(op)}`);
    },
  };
});
