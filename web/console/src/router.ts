import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";

import { SCREENS } from "./screen";
import { claims, may } from "./session";

const routes: RouteRecordRaw[] = [
  {
    path: "/sign-in",
    name: "sign-in",
    component: () => import("./views/SignInView.vue"),
    meta: { public: true },
  },
  {
    path: "/sign-in/callback",
    name: "sign-in-callback",
    component: () => import("./views/SignInCallbackView.vue"),
    meta: { public: true },
  },
  { path: "/", name: "home", component: () => import("./views/HomeView.vue") },
  ...SCREENS.map((s) => ({
    path: s.path,
    name: s.name,
    component: s.component,
    meta: { needs: s.needs },
  })),
];

export const router = createRouter({ history: createWebHistory(), routes });

router.beforeEach((to) => {
  if (to.meta.public) return true;
  if (!claims.value) return { name: "sign-in", query: { next: to.fullPath } };
  const needs = to.meta.needs as readonly string[] | undefined;
  if (needs && !may(...needs)) return { name: "home" };
  if (to.name === "home") {
    const first = SCREENS.find((s) => s.menu !== false && may(...s.needs));
    if (first) return { name: first.name };
  }
  return true;
});
