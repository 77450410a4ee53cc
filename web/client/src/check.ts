/**
 * Typed calls that must compile against the generated types (`tsc --noEmit`, run by
 * `make client` and so by `make test`). Nothing here is run: a renamed path, a changed answer
 * or an error body that is not problem details fails the type check.
 */
import {
  billingClient,
  dunningClient,
  notifierClient,
  pages,
  paymentsClient,
  serviceClient,
  type BillingPaths,
  type DunningPaths,
  type NotifierPaths,
  type PaymentsPaths,
  type Problem,
} from "./index";

const token = (): string => "a JWT from the identity provider";
const billing = billingClient({ baseUrl: "http://127.0.0.1:8101", token });
const payments = paymentsClient({ baseUrl: "http://127.0.0.1:8102", token });
const dunning = dunningClient({ baseUrl: "http://127.0.0.1:8103", token: "static" });
const notifier = notifierClient({ baseUrl: "http://127.0.0.1:8104" });

/** Each service's liveness answer is typed: `status` is a string. */
export async function liveness(): Promise<string[]> {
  const answers = await Promise.all([
    billing.GET("/healthz"),
    payments.GET("/healthz"),
    dunning.GET("/healthz"),
    notifier.GET("/healthz"),
  ]);
  return answers.map(({ data }) => {
    const status: string | undefined = data?.status;
    return status ?? "down";
  });
}

/** A staff operation's error answer is the Problem schema (401, 403, 422 here). */
export async function auditError(): Promise<Problem | undefined> {
  const { data, error } = await billing.GET("/audit");
  if (error !== undefined) {
    const status: number = error.status;
    const title: string = error.title;
    const detail: string | null | undefined = error.detail;
    const fields = error.errors?.map((problem) => `${problem.field}: ${problem.reason}`);
    void [status, title, detail, fields];
    return error;
  }
  void data;
  return undefined;
}

/** The same in every service. */
export async function everyAuditError(): Promise<Array<Problem | undefined>> {
  const answers = await Promise.all([
    payments.GET("/audit"),
    dunning.GET("/audit"),
    notifier.GET("/audit"),
  ]);
  return answers.map(({ error }) => error);
}

/** A path that is not in the document does not compile. */
export async function unknownPath(): Promise<void> {
  // @ts-expect-error: no such path in billing's document
  await billing.GET("/no-such-path");
}

/** A paged collection as the documents describe one (`propfee.paging.Page`). */
interface PagedPaths {
  "/things": {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query?: { limit?: number; cursor?: string | null } };
      requestBody?: never;
      responses: {
        200: { headers: { [name: string]: unknown }; content: { "application/json": { items: { id: string }[]; next?: string | null } } };
        422: { headers: { [name: string]: unknown }; content: { "application/problem+json": Problem } };
      };
    };
  };
}

/** The paging helper walks an openapi-fetch call's pages, its items typed. */
export async function walk(): Promise<string[]> {
  const things = serviceClient<PagedPaths>({ baseUrl: "http://127.0.0.1:8101", token });
  const ids: string[] = [];
  for await (const thing of pages((cursor) =>
    things.GET("/things", { params: { query: { cursor, limit: 500 } } }),
  )) {
    ids.push(thing.id);
  }
  return ids;
}

// --- every error answer of every operation is problem details ----------------------------------

type ErrorCode<S> = `${S & (string | number)}` extends `4${string}` | `5${string}` ? S : never;

/** The `content` of every 4xx/5xx answer of a path's operations (`"no content"` if none). */
type ErrorContents<Item> = {
  [M in keyof Item]-?: NonNullable<Item[M]> extends { responses: infer R }
    ? {
        [S in keyof R as ErrorCode<S>]: R[S] extends { content: infer C } ? C : "no content";
      }[keyof { [S in keyof R as ErrorCode<S>]: 0 }]
    : never;
}[keyof Item];

type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type ProblemContent = { "application/problem+json": Problem };

/** The paths with an error answer that is not exactly `application/problem+json` Problem. */
type NotProblems<P> = {
  [Path in keyof P]-?: [ErrorContents<P[Path]>] extends [never]
    ? never
    : Exactly<ErrorContents<P[Path]>, ProblemContent> extends true
      ? never
      : Path;
}[keyof P];

/** Fails with the offending paths' names when there are any. */
type NoneOf<T extends never> = T;

/**
 * Not ours to shape: the probes answer 503 with their readiness body (for Kubernetes), and a
 * payment gateway's notification is answered as the gateway's protocol says.
 */
type Exempt = "/healthz" | "/readyz" | `/webhooks/${string}`;

export type EveryErrorIsAProblem = [
  NoneOf<NotProblems<Omit<BillingPaths, Exempt>>>,
  NoneOf<NotProblems<Omit<DunningPaths, Exempt>>>,
  NoneOf<NotProblems<Omit<NotifierPaths, Exempt>>>,
  NoneOf<NotProblems<Omit<PaymentsPaths, Exempt>>>,
];
