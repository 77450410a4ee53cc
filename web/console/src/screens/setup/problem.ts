/** Reading the services' problem+json answers (their extension members are untyped). */
import type { Problem } from "@propfee/client";

export type ProblemBody = Problem & Record<string, unknown>;

export function asProblem(error: unknown): ProblemBody {
  return (error && typeof error === "object" ? error : { detail: String(error) }) as ProblemBody;
}

/** A refusal's reason for `field`: from `errors[]`, or a "field: reason" line of `refused`. */
export function reasonsByField(p: ProblemBody): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (field: string, reason: string): void => {
    (out[field] ??= []).push(reason);
  };
  for (const e of p.errors ?? []) add(e.field, e.reason);
  const refused = Array.isArray(p.refused) ? (p.refused as string[]) : [];
  for (const line of refused) {
    const m = /^([A-Za-z_][\w.[\]]*): (.*)$/.exec(line);
    if (m) add(m[1]!.split(".")[0]!, m[2]!);
    else add("", line);
  }
  return out;
}

/** The cells of a CSV (RFC 4180: quotes, doubled quotes, commas and newlines in quotes). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  const src = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && src[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
