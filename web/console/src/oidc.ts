/**
 * Sign-in with the company's identity provider: OpenID Connect authorization code with PKCE
 * (S256), state and nonce, run by oidc-client-ts in the browser (a public client: no secret).
 * The console server's /console/config names the IdP (issuer, endpoints, client id; no
 * discovery request). The access token goes to session.ts like the development sign-in's; the
 * services verify it against the IdP's keys.
 */
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

import { signIn } from "./session";

export interface OidcConfig {
  issuer: string;
  client_id: string;
  authorization_endpoint: string;
  token_endpoint: string;
  scope: string;
}

export interface ConsoleConfig {
  dev_sign_in: boolean;
  roles: string[];
  oidc: OidcConfig | null;
}

let config: Promise<ConsoleConfig> | null = null;

/** /console/config, fetched once per page load. */
export function consoleConfig(): Promise<ConsoleConfig> {
  config ??= fetch("/console/config").then(async (r) => {
    if (!r.ok) throw new Error(`/console/config: ${r.status}`);
    return (await r.json()) as ConsoleConfig;
  });
  return config;
}

function manager(oidc: OidcConfig): UserManager {
  const origin = window.location.origin;
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  return new UserManager({
    authority: oidc.issuer,
    client_id: oidc.client_id,
    redirect_uri: `${origin}/sign-in/callback`,
    response_type: "code",
    scope: oidc.scope,
    metadata: {
      issuer: oidc.issuer,
      authorization_endpoint: oidc.authorization_endpoint,
      token_endpoint: oidc.token_endpoint,
    },
    stateStore: store,
    userStore: store,
    loadUserInfo: false,
    automaticSilentRenew: false,
    monitorSession: false,
  });
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Off to the IdP; it comes back to /sign-in/callback, then to `next`. */
export async function startSignIn(next: string): Promise<void> {
  const { oidc } = await consoleConfig();
  if (!oidc) throw new Error("no identity provider is configured");
  // oidc-client-ts makes the PKCE verifier and the state; the nonce it checks in the ID token.
  await manager(oidc).signinRedirect({ state: { next }, nonce: randomNonce() });
}

/** The IdP's answer on /sign-in/callback: code exchanged (with the verifier), state and nonce
 * checked; the access token kept. Returns where the user was going. */
export async function completeSignIn(): Promise<string> {
  const { oidc } = await consoleConfig();
  if (!oidc) throw new Error("no identity provider is configured");
  const users = manager(oidc);
  const user = await users.signinRedirectCallback();
  await users.removeUser(); // session.ts keeps the one token the console uses
  signIn(user.access_token);
  const next = (user.state as { next?: unknown } | undefined)?.next;
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}
