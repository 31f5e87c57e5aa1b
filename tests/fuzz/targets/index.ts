/**
 * Every fuzz target, in the order `npm run fuzz` runs them. A new target is one file in this
 * folder exporting a FuzzTarget (tests/fuzz/target.ts) and one line here.
 */
import type { FuzzTarget } from "../target.js";
import { framesTarget } from "./frame-parser.js";
import { handshakeTarget } from "./handshake.js";
import { httpTarget } from "./http.js";
import { improvTarget } from "./improv.js";
import { jsonLoopTarget } from "./json-loop.js";
import { mqttTarget } from "./mqtt.js";
import { urlTarget } from "./url.js";
import { utf8Target } from "./utf8.js";

export const TARGETS: readonly FuzzTarget[] = [
  framesTarget,
  handshakeTarget,
  urlTarget,
  utf8Target,
  jsonLoopTarget,
  mqttTarget,
  improvTarget,
  httpTarget,
];
