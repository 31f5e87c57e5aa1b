/**
 * Errors from inside XS, seen from Node: an uncaught exception (XsError), and an error a
 * program threw or reported (errorFromXs), rebuilt with the same class, code and close code
 * so a test asserts the same way on both engines, and with the XS stack mapped to the
 * TypeScript sources.
 */
import { ErrorCode, HandshakeError, WebSocketError, type ErrorCodeValue } from "../../src/shared/errors.js";
import { mapXsStack } from "./loader.js";

/** An exception inside XS that nobody caught, or the XS worker's death, seen from Node. */
export class XsError extends Error {
  /** The XS error's own text: "Name: message" and its XS stack (file:line per frame). */
  readonly xsStack: string;
  constructor(message: string, xsStack: string) {
    super(message);
    this.name = "XsError";
    this.xsStack = mapXsStack(xsStack);
    this.stack = `${this.name}: ${message}\n${this.xsStack}`;
  }
}

/** A JSON-described XS error (xs-side/programs.ts errorToJson). */
export interface XsErrorJson {
  name: string;
  message: string;
  stack: string;
  code?: string;
  closeCode?: number;
  status?: number;
  cause?: XsErrorJson;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * The Node counterpart of an error thrown in XS: a WebSocketError or HandshakeError with the
 * same code, close code and status when it was one (so tests assert the same way on both
 * engines), else an Error of the same name; its `xsStack` holds the XS stack.
 */
export function errorFromXs(json: XsErrorJson): Error & { xsStack: string } {
  let error: Error;
  if (json.code !== undefined && ERROR_CODES.has(json.code)) {
    error =
      json.name === "HandshakeError"
        ? new HandshakeError(json.code as ErrorCodeValue, json.message, json.status)
        : new WebSocketError(json.code as ErrorCodeValue, json.message, json.closeCode);
  } else if (json.name === "TypeError") error = new TypeError(json.message);
  else if (json.name === "RangeError") error = new RangeError(json.message);
  else {
    error = new Error(json.message);
    error.name = json.name;
  }
  if (json.cause) (error as { cause?: unknown }).cause = errorFromXs(json.cause);
  const withStack = error as Error & { xsStack: string };
  withStack.xsStack = mapXsStack(json.stack);
  error.stack = `${withStack.xsStack}\n    (thrown inside XS)`;
  return withStack;
}
