import { describe, expect, it } from "vitest";
import { checkAuthorization } from "./auth.js";

const NOW = Date.UTC(2025, 0, 1);
const future = Math.floor(NOW / 1000) + 300;
const sdkHeader = `SharedAccessSignature sig=V%2BKvKor9VNMwQGAURiKZ9ApTR8en90nc9ReVa6pJ34E%3D&se=${future}&skn=RootManageSharedAccessKey&sr=https%3a%2f%2flocalhost%2fq1%3fapi-version%3d2021-05`;

describe("checkAuthorization", () => {
  it("accepts the header the SDK builds from a connection string", () => {
    expect(checkAuthorization(sdkHeader, NOW)).toEqual({ ok: true, keyName: "RootManageSharedAccessKey" });
    expect(
      checkAuthorization(sdkHeader.replace("SharedAccessSignature", "sharedaccesssignature"), NOW).ok,
    ).toBe(true);
  });

  it.each([
    [undefined, "MissingToken"],
    ["", "MissingToken"],
    ["SharedAccessSignature", "MalformedToken"],
    ["Bearer eyJ0eXAi", "only SharedAccessSignature"],
    [`SharedAccessSignature sig=a&se=${future}&skn=k`, "no sr field"],
    [`SharedAccessSignature sr=x&se=${future}&skn=k&sig=`, "no sig field"],
    ["SharedAccessSignature sr=x&sig=a&skn=k&se=soon", "se field is not a Unix time"],
    [`SharedAccessSignature sr=x&sig=a&skn=k&se=${Math.floor(NOW / 1000) - 1}`, "ExpiredToken"],
    [`SharedAccessSignature sr=x&sr=y&sig=a&skn=k&se=${future}`, "sr field appears twice"],
    [`SharedAccessSignature sr=%E0%A4%A&sig=a&skn=k&se=${future}`, "not URL-encoded correctly"],
    [`SharedAccessSignature sr&sig=a&skn=k&se=${future}`, "not key=value"],
  ])("rejects %j", (header, reason) => {
    const result = checkAuthorization(header, NOW);
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toContain(reason);
  });
});
