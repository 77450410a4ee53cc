import "element-plus/dist/index.css";
import "./theme.css";

import ElementPlus from "element-plus";
import { createApp } from "vue";

import App from "./App.vue";
import { i18n } from "./i18n";
import { resumeSession } from "./oidc";
import { router } from "./router";

document.documentElement.lang = i18n.global.locale.value;
createApp(App).use(ElementPlus).use(i18n).use(router).mount("#app");
// Signed in with the identity provider in this tab: token renewal resumes after a reload.
void resumeSession();
