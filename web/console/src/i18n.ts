import { createI18n } from "vue-i18n";

import { SCREENS } from "./screen";

const zhCN = {
  app: { name: "Propfee 物业收费", signOut: "退出", language: "语言", role: "角色" },
  roles: {
    fee_clerk: "收费员",
    housekeeper: "管家",
    customer_service: "客服",
    finance: "财务",
    legal: "法务",
    community_manager: "项目经理",
    company_admin: "公司管理员",
    auditor: "审计",
    owners_committee: "业委会",
  },
  home: { nothing: "当前角色没有可用的功能。" },
  signIn: {
    title: "登录",
    devTitle: "开发环境登录",
    devHint: "仅本地开发环境可用:用开发签发者的令牌以所选角色登录。生产环境使用公司身份认证(OIDC)。",
    subject: "工号",
    role: "角色",
    company: "公司",
    communities: "小区(逗号分隔,留空为全部)",
    submit: "登录",
    notAvailable: "开发登录仅在开发环境可用。请通过公司身份认证登录。",
  },
};

const en: typeof zhCN = {
  app: { name: "Propfee fees", signOut: "Sign out", language: "Language", role: "Role" },
  roles: {
    fee_clerk: "Fee clerk",
    housekeeper: "Housekeeper",
    customer_service: "Customer service",
    finance: "Finance",
    legal: "Legal",
    community_manager: "Community manager",
    company_admin: "Company admin",
    auditor: "Auditor",
    owners_committee: "Owners' committee",
  },
  home: { nothing: "Your role has no screen here." },
  signIn: {
    title: "Sign in",
    devTitle: "Development sign-in",
    devHint:
      "Local development only: a token of the development issuer for the chosen role. Production signs in with the company's identity provider (OIDC).",
    subject: "Staff id",
    role: "Role",
    company: "Company",
    communities: "Communities (comma-separated; empty for all)",
    submit: "Sign in",
    notAvailable: "The development sign-in exists only in development. Sign in with the company's identity provider.",
  },
};

export type Locale = "zh-CN" | "en";
const LOCALE_KEY = "propfee.console.locale";

export const i18n = createI18n({
  legacy: false,
  locale: (localStorage.getItem(LOCALE_KEY) as Locale | null) ?? "zh-CN",
  fallbackLocale: "zh-CN",
  messages: {
    "zh-CN": { ...zhCN, ...Object.fromEntries(SCREENS.map((s) => [s.name, s.messages["zh-CN"]])) },
    en: { ...en, ...Object.fromEntries(SCREENS.map((s) => [s.name, s.messages.en])) },
  },
});

export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale;
  localStorage.setItem(LOCALE_KEY, locale);
  document.documentElement.lang = locale;
}
