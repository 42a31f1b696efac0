import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "dist/**", ".ci/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers on port 0; two cores do not gain from more workers.
    maxWorkers: 2,
    // In CI a JSON report lets .ci/run print one closing summary line.
    reporters: process.env.CI ? ["default", ["json", { outputFile: "dist/test-results.json" }]] : ["default"],
  },
});
