import azureFunctions from "@azure/functions";
import { describe, expect, it } from "vitest";
import { HeraldError } from "../core/errors.js";
import { azureHttpHandler, toHandlerRequest, toHttpResponseInit } from "./http.js";

const { HttpRequest, InvocationContext } = azureFunctions;

const request = (body?: string, headers: Record<string, string> = {}) =>
  new HttpRequest({
    method: "POST",
    url: "http://localhost:7071/api/notifications?x=1",
    headers,
    ...(body === undefined ? {} : { body: { string: body } }),
  });

describe("Functions HTTP adapter", () => {
  it("hands the handler the method, URL, headers and body", async () => {
    const neutral = toHandlerRequest(request('{"a":1}', { authorization: "Bearer k" }));
    expect(neutral.method).toBe("POST");
    expect(neutral.url.pathname).toBe("/api/notifications");
    expect(neutral.url.searchParams.get("x")).toBe("1");
    expect(neutral.headers.get("authorization")).toBe("Bearer k");
    expect(new TextDecoder().decode(await neutral.readBody(100))).toBe('{"a":1}');
  });

  it("refuses a body over the limit, by its declared length or its actual one", async () => {
    const declared = toHandlerRequest(request("{}", { "content-length": "5000" }));
    await expect(declared.readBody(100)).rejects.toMatchObject({ code: "HERALD_PAYLOAD_TOO_LARGE" });
    const actual = toHandlerRequest(request("x".repeat(101)));
    await expect(actual.readBody(100)).rejects.toMatchObject({ code: "HERALD_PAYLOAD_TOO_LARGE" });
    expect((await toHandlerRequest(request()).readBody(100)).byteLength).toBe(0);
  });

  it("serializes JSON answers as the gateway does and keeps the headers", () => {
    expect(toHttpResponseInit({ status: 202, headers: { "x-a": "1" }, json: { ids: ["a"] } })).toEqual({
      status: 202,
      headers: { "x-a": "1", "content-type": "application/json; charset=utf-8" },
      body: '{"ids":["a"]}',
    });
    expect(toHttpResponseInit({ status: 204 })).toEqual({ status: 204, headers: {} });
  });

  it("answers a thrown error with its status and code, and an unknown one with HERALD_INTERNAL", async () => {
    const context = new InvocationContext({ functionName: "t" });
    const refused = await azureHttpHandler(() => async () => {
      throw new HeraldError("HERALD_UNAUTHORIZED", "no");
    })(request(), context);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body as string)).toMatchObject({ code: "HERALD_UNAUTHORIZED" });
    expect((refused.headers as Record<string, string>)["www-authenticate"]).toBe('Bearer realm="herald"');
    const broken = await azureHttpHandler(() => Promise.reject(new Error("no clients")))(request(), context);
    expect(broken.status).toBe(500);
    expect(JSON.parse(broken.body as string)).toMatchObject({ code: "HERALD_INTERNAL" });
  });
});
