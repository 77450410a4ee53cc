/**
 * Typed clients for Propfee's four services. The types are generated from the committed
 * OpenAPI documents (docs/openapi/<service>.json) into src/generated/ by `make client`; the
 * runtime is openapi-fetch (a thin wrapper over fetch).
 *
 *     const billing = billingClient({ baseUrl: "http://127.0.0.1:8101", token: () => jwt });
 *     const { data, error } = await billing.GET("/units/{unit_id}", {
 *       params: { path: { unit_id: "u-1" } },
 *     });
 *     // data: the unit (typed), or error: a Problem (RFC 9457 problem details)
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components as BillingComponents, paths as BillingPaths } from "./generated/billing";
import type { paths as DunningPaths } from "./generated/dunning";
import type { paths as NotifierPaths } from "./generated/notifier";
import type { paths as PaymentsPaths } from "./generated/payments";

export type { BillingPaths, DunningPaths, NotifierPaths, PaymentsPaths };

/** RFC 9457 problem details: the body of every error answer (the same schema in each service). */
export type Problem = BillingComponents["schemas"]["Problem"];
/** One field's problem inside a 422's `errors`. */
export type FieldProblem = BillingComponents["schemas"]["FieldProblem"];

/** A bearer token, or a function giving the current one (called before every request). */
export type TokenSource =
  | string
  | (() => string | undefined | null | Promise<string | undefined | null>);

export interface ServiceClientOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:8101` (no trailing path). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>` unless the request sets its own. */
  token?: TokenSource;
  /** A custom fetch (tests, retries, another runtime). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/** The middleware adding `Authorization: Bearer <token>` to each request. */
export function bearer(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      if (request.headers.has("Authorization")) return request;
      const value = typeof token === "function" ? await token() : token;
      if (value) request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
}

/** A client for any service's `paths` (the four factories below are this one, typed). */
export function serviceClient<Paths extends {}>(options: ServiceClientOptions): Client<Paths> {
  const client = createClient<Paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  if (options.token !== undefined) client.use(bearer(options.token));
  return client;
}

export const billingClient = (options: ServiceClientOptions): Client<BillingPaths> =>
  serviceClient<BillingPaths>(options);
export const dunningClient = (options: ServiceClientOptions): Client<DunningPaths> =>
  serviceClient<DunningPaths>(options);
export const notifierClient = (options: ServiceClientOptions): Client<NotifierPaths> =>
  serviceClient<NotifierPaths>(options);
export const paymentsClient = (options: ServiceClientOptions): Client<PaymentsPaths> =>
  serviceClient<PaymentsPaths>(options);

/** A page of a collection (`propfee.paging.Page`): `items`, and the cursor of the next page. */
export interface PageOf<T> {
  items: T[];
  next?: string | null;
}

/**
 * Every item of a paged collection, page after page: `fetchPage(cursor)` calls the operation
 * with `params.query.cursor` (undefined for the first page). An error answer stops the walk
 * and is thrown as the Problem it carries.
 *
 *     for await (const unit of pages((cursor) =>
 *       billing.GET("/communities/{community_id}/units", {
 *         params: { path: { community_id }, query: { cursor, limit: 500 } },
 *       }),
 *     )) { ... }
 */
export async function* pages<T, E>(
  fetchPage: (cursor: string | undefined) => Promise<{ data?: PageOf<T>; error?: E }>,
): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  do {
    const { data, error } = await fetchPage(cursor);
    if (data === undefined) throw error;
    yield* data.items;
    cursor = data.next ?? undefined;
  } while (cursor !== undefined);
}
