/**
 * docs/benchmarks.md from a run (bench/docs-page.ts): the bench's output as the page shows
 * it, and the page's template (bench/benchmarks-page.md) with a place for the run and for its
 * results.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { markdownTable, renderDocsPage, RESULTS_MARK, RUN_MARK, Transcript } from "../../bench/docs-page.js";
import { table } from "../../bench/report.js";
import { REPO_ROOT } from "../support/child-process.js";

describe("the benchmarks page (bench/docs-page.ts)", () => {
  it("shows a section's heading, its tables as markdown tables, its notes as paragraphs and its indented lines as a list", () => {
    const transcript = new Transcript();
    transcript.add("== XS: compute per echoed message");
    transcript.add(table([["message", "steps"], ["64 B text", "3,290"], ["a | b", "1"]]));
    transcript.add("A meter step is XS's unit of computation");
    transcript.add("(about one bytecode).");
    transcript.add("XS heap:");
    transcript.add("  after connecting:   9,755 slots");
    transcript.add("  heap growth: 0 slots (OK)");
    transcript.add("done in 50 s");
    transcript.add("");
    assert.equal(
      transcript.markdown(),
      [
        "### XS: compute per echoed message",
        "",
        "| message | steps |",
        "| --- | --- |",
        "| 64 B text | 3,290 |",
        "| a \\| b | 1 |",
        "",
        "A meter step is XS's unit of computation",
        "(about one bytecode).",
        "XS heap:",
        "",
        "- after connecting:   9,755 slots",
        "- heap growth: 0 slots (OK)",
        "",
        "done in 50 s",
      ].join("\n"),
    );
  });

  it("keeps text of several lines (a failed section's stack) as printed, in a code block", () => {
    const transcript = new Transcript();
    transcript.add("FAILED: Error: timed out\n    at wait (bench/xs-device.ts:1:1)");
    assert.equal(transcript.markdown(), "```text\nFAILED: Error: timed out\n    at wait (bench/xs-device.ts:1:1)\n```");
  });

  it("draws a text that only looks like a table as text", () => {
    const transcript = new Transcript();
    transcript.add("a  b\n-  -\n1  2");
    assert.match(transcript.markdown(), /^```text\n/);
  });

  it("pads short rows of a markdown table to the header's width", () => {
    assert.deepEqual(markdownTable([["a", "b", "c"], ["1"]]), ["| a | b | c |", "| --- | --- | --- |", "| 1 |  |  |"]);
  });

  it("fills the template: the run's description and its results, the template's own comment left out", () => {
    const page = renderDocsPage(`<!--\nhow to edit\n-->\n# Benchmarks\n\n${RUN_MARK}\n\n${RESULTS_MARK}\n`, "`npm run bench -- --write-docs` on 2026-01-01", (() => {
      const transcript = new Transcript();
      transcript.add("== Targets");
      transcript.add("done in 9 s ($& stays)");
      return transcript;
    })());
    assert.equal(page, "# Benchmarks\n\n`npm run bench -- --write-docs` on 2026-01-01\n\n### Targets\n\ndone in 9 s ($& stays)\n");
  });

  it("refuses a template without a place for the results", () => {
    assert.throws(() => renderDocsPage(`# Benchmarks\n\n${RUN_MARK}\n`, "run", new Transcript()), /no \{\{results\}\}/);
  });

  it("has a template in the repository with both places, whose method names every section of the bench", () => {
    const template = readFileSync(join(REPO_ROOT, "bench", "benchmarks-page.md"), "utf8");
    assert.ok(template.includes(RUN_MARK) && template.includes(RESULTS_MARK));
    for (const figure of ["Tc, R, D", "moorline-xs", "XS compute per echoed message", "xs_device_heap", "Startup", "Flash footprint", "Fleet", "Flash wear", "MQTT fleet", "Profiles"]) {
      assert.ok(template.includes(figure), `the template's method does not mention ${figure}`);
    }
  });
});
