/**
 * `npm run bench -- --profile`, XS part: where the XS meter steps of an echo go, function by
 * function. Every module XS loads is instrumented (Babel, here on Node) so that each function
 * calls __meterProfile.enter(id) first and exit() last (in a finally); the runtime inside XS
 * (hosts/xs/loader.ts METER_PROFILE_RUNTIME) reads xsnap's meter at each probe and charges the
 * steps since the previous probe to the function on top of its stack. The counts are exact and
 * repeatable, like the meter: the same echo gives the same profile on every run.
 *
 * The probes cost steps of their own around each call (calling enter and exit, keeping the
 * depth and the returned value). That cost is measured first, on a calibration script run
 * with and without probes, split into what a call adds to the function called and to its
 * caller, and taken off each function's self steps (per call it received and per call it
 * made). The corrected total is printed beside the plain figure (bench/xs.ts) as a check.
 */
import { join } from "node:path";
import { DIST_ROOT } from "../hosts/xs/loader.js";
import { sourcePosition } from "./profile.js";
import type { Kind } from "./tasks.js";
import { agent, payload, settle, stop } from "./xs.js";

/** What the profile says about one function. */
export interface MeterProfileRow {
  /** Class.method, a function's name, or where an anonymous one is. */
  name: string;
  /** Its TypeScript source position (src/websocket/receiver.ts:120). */
  where: string;
  callsPerEcho: number;
  /** Self steps per echo as counted, probes' overhead included. */
  rawSelfPerEcho: number;
  /** Self steps per echo with the probes' measured overhead taken off (a few steps either way). */
  selfPerEcho: number;
}

export interface MeterProfile {
  size: number;
  kind: Kind;
  echoes: number;
  /** Steps per echo counted by the probes (overhead included). */
  profiledPerEcho: number;
  /** The same with the probes' overhead taken off: close to plainPerEcho when the correction is right. */
  correctedPerEcho: number;
  /** The plain figure it is compared with (no probes). */
  plainPerEcho: number;
  callsPerEcho: number;
  /** The probes' measured cost per call, steps. */
  overhead: Overhead;
  rows: MeterProfileRow[];
}

interface Probe {
  name: string;
  where: string;
}

/** Loads @babel/core when it is there (it comes with istanbul-lib-instrument, a dev dependency). */
async function loadBabel(): Promise<typeof import("@babel/core") | undefined> {
  try {
    return await import("@babel/core");
  } catch {
    return undefined;
  }
}

/** Names of the probes' helpers in instrumented code (nothing of ours starts with __mp). */
const PROFILE = "__mp";
const DEPTH = "__mpDepth";
const RESULT = "__mpResult";

/**
 * The source transform adding the probes; `probes[id]` names each instrumented function. Each
 * function gets `const __mpDepth = __mp.enter(ID)` first, and `__mp.exit(__mpDepth)` before
 * each of its returns (after the returned value is computed) and at its end.
 */
function instrumenter(babel: typeof import("@babel/core"), probes: Probe[]): (specifier: string, source: string) => string {
  const t = babel.types;
  const exit = () =>
    t.expressionStatement(t.callExpression(t.memberExpression(t.identifier(PROFILE), t.identifier("exit")), [t.identifier(DEPTH)]));
  const done = new WeakSet<object>();
  return (specifier, source) => {
    const compiled = join(DIST_ROOT, specifier);
    const result = babel.transformSync(source, {
      filename: specifier,
      sourceType: specifier.endsWith(".js") ? "module" : "script",
      configFile: false,
      babelrc: false,
      retainLines: true,
      comments: false,
      plugins: [
        () => ({
          visitor: {
            Program(path) {
              // The runtime, as a module binding: cheaper to reach than a global.
              path.node.body.unshift(
                t.variableDeclaration("const", [t.variableDeclarator(t.identifier(PROFILE), t.identifier("__meterProfile"))]),
              );
            },
            Function(path) {
              const node = path.node;
              if (node.generator || node.async || done.has(node)) return;
              done.add(node);
              const line = node.loc?.start.line ?? 1;
              const column = node.loc?.start.column ?? 0;
              const id = probes.length;
              probes.push({ name: functionName(path, babel), where: sourcePosition(compiled, line - 1, column) });
              // Its own returns (not those of functions inside it): exit after the value is computed.
              path.traverse({
                Function(inner) {
                  inner.skip();
                },
                ReturnStatement(returned) {
                  if (done.has(returned.node)) return;
                  const value = returned.node.argument;
                  const back = t.returnStatement(value ? t.identifier(RESULT) : null);
                  done.add(back);
                  const statements = value
                    ? [t.variableDeclaration("const", [t.variableDeclarator(t.identifier(RESULT), value)]), exit(), back]
                    : [exit(), back];
                  returned.replaceWith(t.blockStatement(statements));
                },
              });
              const body = t.isBlockStatement(node.body) ? node.body : t.blockStatement([t.returnStatement(node.body)]);
              if (!t.isBlockStatement(node.body)) {
                // An arrow's expression body: computed, then exit, then returned.
                const value = node.body;
                const back = t.returnStatement(t.identifier(RESULT));
                done.add(back);
                body.body = [t.variableDeclaration("const", [t.variableDeclarator(t.identifier(RESULT), value)]), exit(), back];
              }
              const enter = t.variableDeclaration("const", [
                t.variableDeclarator(
                  t.identifier(DEPTH),
                  t.callExpression(t.memberExpression(t.identifier(PROFILE), t.identifier("enter")), [t.numericLiteral(id)]),
                ),
              ]);
              body.body = [enter, ...body.body, exit()];
              node.body = body;
            },
          },
        }),
      ],
    });
    if (!result?.code) throw new Error(`the meter profile could not instrument ${specifier}`);
    return result.code;
  };
}

/**
 * The probes' own cost, measured on a calibration script run with and without them: `inside`
 * steps per call charged to the called function, `outside` to its caller.
 */
interface Overhead {
  inside: number;
  outside: number;
}

const CALIBRATION_CALLS = 1000;
const CALIBRATION = `(() => {
  function calibrationCallee(i) { return i & 1; }
  function calibrationCaller(n) { let sum = 0; for (let i = 0; i < n; i++) sum += calibrationCallee(i); return sum; }
  return calibrationCaller(${CALIBRATION_CALLS});
})();`;

type FunctionPath = Parameters<NonNullable<Extract<import("@babel/traverse").Visitor["Function"], (...args: never[]) => unknown>>>[0];

/** Runs the calibration script plain, then instrumented: the probes' steps per call. */
async function calibrate(engine: import("../hosts/xs/engine.js").XsEngine, instrumented: string, first: number): Promise<Overhead> {
  await engine.takeMeterProfile();
  const plain = (await engine.worker.evaluate(CALIBRATION)).meter.compute;
  await engine.takeMeterProfile();
  await engine.worker.evaluate(instrumented);
  const { self, calls } = await engine.takeMeterProfile();
  // Probes: first = the arrow around it, first + 1 = callee, first + 2 = caller (source order).
  let total = 0;
  let count = 0;
  for (let id = first; id < first + 3; id++) {
    total += self[id] ?? 0;
    count += calls[id] ?? 0;
  }
  total += self[0] ?? 0;
  const perCall = (total - plain) / count;
  // Charged to the callee: its self steps per call (its own body, `i & 1`, is a few steps: left in).
  const inside = (self[first + 1] ?? 0) / CALIBRATION_CALLS;
  return { inside, outside: perCall - inside };
}

/** Class.method, name, or what an anonymous function is assigned to. */
function functionName(path: FunctionPath, babel: typeof import("@babel/core")): string {
  const t = babel.types;
  const node = path.node;
  const keyName = (key: import("@babel/types").Node): string =>
    t.isIdentifier(key) ? key.name : t.isPrivateName(key) ? `#${key.id.name}` : t.isStringLiteral(key) ? key.value : "[computed]";
  const className = (): string => {
    const owner = path.findParent((p) => p.isClass());
    const id = owner?.node && (owner.node as { id?: { name: string } | null }).id;
    return id?.name ?? "(class)";
  };
  if (t.isClassMethod(node) || t.isClassPrivateMethod(node)) {
    const prefix = node.kind === "get" ? "get " : node.kind === "set" ? "set " : "";
    return `${className()}.${prefix}${keyName(node.key)}`;
  }
  if (t.isObjectMethod(node)) return keyName(node.key);
  if (t.isFunctionDeclaration(node) && node.id) return node.id.name;
  const parent = path.parent;
  if (t.isVariableDeclarator(parent) && t.isIdentifier(parent.id)) return parent.id.name;
  if (t.isObjectProperty(parent)) return keyName(parent.key);
  if (t.isClassProperty(parent) || t.isClassPrivateProperty(parent)) return `${className()}.${keyName(parent.key)}`;
  const enclosing = path.findParent((p) => p.isFunction());
  if (enclosing) return `(anonymous, in ${functionName(enclosing as FunctionPath, babel)})`;
  return "(anonymous)";
}

/**
 * Profiles `echoes` echoes of one message in the echo agent inside XS (after 16 to warm up),
 * against the plain figure `plainPerEcho` (steps per echo without probes). Undefined when
 * @babel/core is not installed.
 */
export async function xsMeterProfile(size: number, kind: Kind, echoes: number, plainPerEcho: number): Promise<MeterProfile | undefined> {
  const babel = await loadBabel();
  if (babel === undefined) return undefined;
  const probes: Probe[] = [{ name: "(outside instrumented code)", where: "hosts/xs/loader.ts" }];
  const transform = instrumenter(babel, probes);
  const firstCalibrationProbe = probes.length;
  const calibration = transform("calibration", CALIBRATION);
  const { engine, peer } = await agent(
    { maxMessageBytes: Math.max(16 * 1024, size), maxBufferedBytes: Math.max(16 * 1024, size) * 2 },
    { meterProfile: { transform }, requestTimeoutMs: 120_000 },
  );
  try {
    const overhead = await calibrate(engine, calibration, firstCalibrationProbe);
    const message = payload(size, kind);
    for (let i = 0; i < 16; i++) await peer.echo(message);
    await settle(engine, engine.deliveries);
    await engine.takeMeterProfile();
    const deliveries0 = engine.deliveries;
    for (let i = 0; i < echoes; i++) {
      await peer.echo(message);
      await settle(engine, deliveries0 + i + 1);
    }
    const { self, calls, children } = await engine.takeMeterProfile();
    let profiled = 0;
    let corrected = 0;
    let totalCalls = 0;
    const rows: MeterProfileRow[] = [];
    for (let id = 0; id < probes.length; id++) {
      const steps = self[id] ?? 0;
      const count = calls[id] ?? 0;
      profiled += steps;
      totalCalls += count;
      if (steps === 0 && count === 0) continue;
      const own = steps - count * overhead.inside - (children[id] ?? 0) * overhead.outside;
      corrected += own;
      rows.push({
        name: probes[id]!.name,
        where: probes[id]!.where,
        callsPerEcho: count / echoes,
        rawSelfPerEcho: steps / echoes,
        selfPerEcho: own / echoes,
      });
    }
    rows.sort((a, b) => b.selfPerEcho - a.selfPerEcho);
    return {
      size,
      kind,
      echoes,
      profiledPerEcho: profiled / echoes,
      correctedPerEcho: corrected / echoes,
      plainPerEcho,
      callsPerEcho: totalCalls / echoes,
      overhead,
      rows,
    };
  } finally {
    await stop(engine, peer);
  }
}
