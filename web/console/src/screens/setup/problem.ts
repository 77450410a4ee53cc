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
