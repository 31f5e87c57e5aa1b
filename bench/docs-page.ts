/**
 * docs/benchmarks.md from one run (`npm run bench -- --write-docs`): what the bench printed,
 * section by section, in markdown (its tables as markdown tables), put into the page's
 * template (bench/benchmarks-page.md: the method and how to read the figures, written by
 * hand), so that the page, docs/benchmarks.json and docs/benchmarks.svg always show the same
 * run.
 */
import { tableRowsOf } from "./report.js";

/** Where the run's output goes in the template, and where the run is described. */
export const RESULTS_MARK = "{{results}}";
export const RUN_MARK = "{{run}}";

type Block = { rows: string[][] } | { text: string };

/** Everything the bench said, in order, for the page. */
export class Transcript {
  private readonly blocks: Block[] = [];

  /** One say(): a table made by report.ts's table(), or text. */
  add(text: string): void {
    const rows = tableRowsOf(text);
    this.blocks.push(rows === undefined ? { text } : { rows });
  }

  /**
   * The transcript in markdown: "== title" lines become headings, tables markdown tables,
   * indented lines list items, other lines paragraphs (consecutive lines join, as printed);
   * text of several lines (a failure's stack) stays as printed, in a code block.
   */
  markdown(): string {
    const out: string[] = [];
    let inList = false;
    const gap = (): void => {
      if (out.length > 0 && out[out.length - 1] !== "") out.push("");
    };
    for (const block of this.blocks) {
      if ("rows" in block) {
        gap();
        out.push(...markdownTable(block.rows), "");
        inList = false;
        continue;
      }
      if (block.text.includes("\n")) {
        gap();
        out.push("```text", block.text, "```", "");
        inList = false;
        continue;
      }
      const line = block.text;
      if (line.trim() === "") {
        gap();
        inList = false;
      } else if (line.startsWith("== ")) {
        gap();
        out.push(`### ${line.slice(3)}`, "");
        inList = false;
      } else if (/^\s/.test(line)) {
        if (!inList) gap();
        out.push(`- ${line.trim()}`);
        inList = true;
      } else {
        // A paragraph after a list would continue its last item: a blank line ends the list.
        if (inList) gap();
        out.push(line);
        inList = false;
      }
    }
    while (out[out.length - 1] === "") out.pop();
    return out.join("\n");
  }
}

/** A markdown table: the first row is the header; `|` in a cell escaped. */
export function markdownTable(rows: string[][]): string[] {
  const width = Math.max(...rows.map((row) => row.length));
  const line = (row: string[]) => `| ${Array.from({ length: width }, (_, i) => (row[i] ?? "").trim().replace(/\|/g, "\\|")).join(" | ")} |`;
  const [header, ...body] = rows;
  return [line(header!), `|${" --- |".repeat(width)}`, ...body.map(line)];
}

/**
 * The page: the template with its comment (the first lines, `<!-- ... -->`) left out, the
 * run's description at RUN_MARK and the transcript at RESULTS_MARK.
 */
export function renderDocsPage(template: string, run: string, transcript: Transcript): string {
  const body = template.replace(/^<!--[\s\S]*?-->\n+/, "");
  for (const mark of [RUN_MARK, RESULTS_MARK]) {
    if (!body.includes(mark)) throw new Error(`the docs template has no ${mark}`);
  }
  return `${body.replace(RUN_MARK, () => run).replace(RESULTS_MARK, () => transcript.markdown()).trimEnd()}\n`;
}
