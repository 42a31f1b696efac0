// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".herald/", ".ci/.node22/", "coverage/", "bench/**/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
    },
  },
  {
    // The demo page's script runs in the browser, untranspiled.
    files: ["gateway/demo/**/*.js"],
    languageOptions: {
      globals: Object.fromEntries(
        ["document", "location", "fetch", "FormData", "HTMLSelectElement", "Option", "URLSearchParams"].map(
          (name) => [name, "readonly"],
        ),
      ),
    },
  },
);
