/** The four services, through the console's origin (/api/<service>/...), as the signed-in user. */
import {
  billingClient,
  dunningClient,
  notifierClient,
  paymentsClient,
  type Problem,
} from "@propfee/client";

import { router } from "./router";
import { signOut, token } from "./session";

const base = (service: string): string => `${window.location.origin}/api/${service}`;

/** A 401 (expired or revoked token): back to the sign-in page, then to where the user was. */
type Middleware = Parameters<ReturnType<typeof billingClient>["use"]>[0];
const signInAgain: Middleware = {
  onResponse({ response }) {
    if (response.status === 401) {
      signOut();
      void router.push({ name: "sign-in", query: { next: router.currentRoute.value.fullPath } });
    }
    return response;
  },
};

export const billing = billingClient({ baseUrl: base("billing"), token });
export const payments = paymentsClient({ baseUrl: base("payments"), token });
export const dunning = dunningClient({ baseUrl: base("dunning"), token });
export const notifier = notifierClient({ baseUrl: base("notifier"), token });
for (const client of [billing, payments, dunning, notifier]) client.use(signInAgain);

/** The sentence to show for an error answer (problem details), or a network failure. */
export function describe(error: unknown): string {
  if (error && typeof error === "object") {
    const p = error as Problem;
    const fields = (p.errors ?? []).map((e) => `${e.field}: ${e.reason}`).join("; ");
    return [p.detail ?? p.title, fields].filter(Boolean).join(" — ");
  }
  return String(error);
}
