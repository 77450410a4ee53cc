/**
 * The signed-in staff member: the bearer token (sessionStorage: gone when the tab closes) and
 * its claims, read for display and for the menu only (the services verify the token).
 */
import { computed, ref } from "vue";

import { OPERATION_ROLES } from "./generated/roles";

const KEY = "propfee.console.token";

export interface Claims {
  sub: string;
  company: string;
  communities: string[] | "*";
  roles: string[];
  exp: number;
}

function decode(token: string): Claims | null {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Claims;
  } catch {
    return null;
  }
}

const stored = ref<string | null>(sessionStorage.getItem(KEY));

export const claims = computed<Claims | null>(() => {
  const token = stored.value;
  if (!token) return null;
  const c = decode(token);
  return c && c.exp * 1000 > Date.now() ? c : null;
});

export function token(): string | null {
  return claims.value ? stored.value : null;
}

export function signIn(accessToken: string): void {
  sessionStorage.setItem(KEY, accessToken);
  stored.value = accessToken;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  stored.value = null;
}

/** Whether the signed-in role may call every operation named ("payments.recordCounterPayment"). */
export function may(...operations: string[]): boolean {
  const roles = claims.value?.roles ?? [];
  return operations.every((op) => (OPERATION_ROLES[op] ?? []).some((r) => roles.includes(r)));
}

/** The communities the token names; "*" when it covers every community of the company. */
export const communities = computed<string[] | "*">(() => {
  const c = claims.value?.communities;
  return c === undefined || c === "*" || (Array.isArray(c) && c.includes("*")) ? "*" : c;
});
