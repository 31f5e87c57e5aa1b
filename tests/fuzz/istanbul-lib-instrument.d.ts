/** The part of istanbul-lib-instrument (CommonJS, no types of its own) the fuzzer's loader hook uses. */
declare module "istanbul-lib-instrument" {
  interface InstrumenterOptions {
    esModules?: boolean;
    compact?: boolean;
    coverageVariable?: string;
    coverageGlobalScope?: string;
    coverageGlobalScopeFunc?: boolean;
    produceSourceMap?: boolean;
  }
  interface Instrumenter {
    instrumentSync(code: string, filename: string): string;
  }
  const istanbul: { createInstrumenter(options?: InstrumenterOptions): Instrumenter };
  export default istanbul;
}
