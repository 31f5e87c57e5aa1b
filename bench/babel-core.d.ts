/**
 * The part of @babel/core (CommonJS, no types of its own; installed with istanbul-lib-instrument)
 * that the XS meter profile (bench/xs-meter-profile.ts) uses to add its probes.
 */
declare module "@babel/core" {
  import type { NodePath, Visitor } from "@babel/traverse";
  import type * as BabelTypes from "@babel/types";
  interface PluginObject {
    visitor: Visitor;
  }
  interface TransformOptions {
    filename?: string;
    sourceType?: "module" | "script";
    configFile?: false;
    babelrc?: false;
    retainLines?: boolean;
    compact?: boolean;
    comments?: boolean;
    plugins?: Array<() => PluginObject>;
  }
  export function transformSync(code: string, options: TransformOptions): { code?: string | null } | null;
  export const types: typeof BabelTypes;
  export type { NodePath };
}
