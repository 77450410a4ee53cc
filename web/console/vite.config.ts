import { fileURLToPath, URL } from "node:url";

import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

// The typed client is web/client's source, imported (not copied): `make client` generates its
// types; its runtime dependency (openapi-fetch) resolves from web/client/node_modules.
export default defineConfig({
  plugins: [vue()],
  resolve: {
    alias: {
      "@propfee/client": fileURLToPath(new URL("../client/src/index.ts", import.meta.url)),
    },
  },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  // `npm run dev`: the console server (python -m propfee.console serve, port 8100) answers
  // the API, the sign-in and the configuration.
  server: {
    proxy: Object.fromEntries(
      ["/api", "/dev", "/console"].map((p) => [p, "http://127.0.0.1:8100"]),
    ),
  },
});
