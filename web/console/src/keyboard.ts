/**
 * `v-keyboard-scroll` on an el-table: its horizontally scrollable body (a narrow tablet) takes
 * the keyboard focus, so it can be scrolled without a mouse (axe: scrollable-region-focusable).
 */
import type { Directive } from "vue";

function focusable(el: HTMLElement): void {
  el.querySelectorAll<HTMLElement>(".el-table__body-wrapper .el-scrollbar__wrap").forEach((w) => {
    if (!w.hasAttribute("tabindex")) w.setAttribute("tabindex", "0");
  });
}

export const vKeyboardScroll: Directive<HTMLElement> = { mounted: focusable, updated: focusable };
