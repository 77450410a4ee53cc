/**
 * A screen of the console, registered by its folder alone: every src/screens/<name>/screen.ts
 * default-exports one (Vite's import.meta.glob finds them), so adding a screen touches no
 * shared file. Its messages live under its name ("cashier.title" is also its menu label); the
 * menu shows it when the signed-in role may call every operation it `needs` (the services
 * still decide); `order` places it in the menu.
 */
import type { Component } from "vue";

export interface ScreenMessages {
  title: string;
  [key: string]: unknown;
}

export interface Screen {
  /** The route name and the messages' namespace. */
  name: string;
  /** The route path; may hold params (":unitId"), then `menu: false`. */
  path: string;
  order: number;
  /** Operation ids ("billing.getStatement") the screen calls. */
  needs: readonly string[];
  component: () => Promise<{ default: Component }>;
  messages: { "zh-CN": ScreenMessages; en: ScreenMessages };
  /** false: reached by links (a room page), not from the menu. */
  menu?: boolean;
}

export function defineScreen(screen: Screen): Screen {
  return screen;
}

const modules = import.meta.glob<{ default: Screen }>("./screens/*/screen.ts", { eager: true });

export const SCREENS: readonly Screen[] = Object.values(modules)
  .map((m) => m.default)
  .sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
