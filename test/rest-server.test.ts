// rest-server's routes through fastify's inject, on the shipped bundle's exported buildApp().
import { createRequire } from "node:module";
import { afterAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { bundle } from "./support/bundles";

const { buildApp } = createRequire(import.meta.url)(bundle("rest-server")) as { buildApp(): FastifyInstance };
const app = buildApp();
afterAll(() => app.close());

describe("rest-server (bundle, inject)", () => {
  it("GET /info reports the identity headers the mesh injected", async () => {
    const reply = await app.inject({ method: "GET", url: "/info", headers: { "x-pv-client": "rest-client", "x-pv-role": "any" } });
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ service: "rest-example", status: "active", role: "any", client: "rest-client" });
  });

  it("GET /info says unknown when no identity header is present (pv-xconnect master)", async () => {
    const reply = await app.inject({ method: "GET", url: "/info" });
    expect(reply.json()).toMatchObject({ role: "unknown", client: "unknown" });
  });

  it("an empty or oversized identity header is not trusted as is", async () => {
    const reply = await app.inject({ method: "GET", url: "/info", headers: { "x-pv-role": "  ", "x-pv-client": "c".repeat(5000) } });
    const body = reply.json() as { role: string; client: string };
    expect(body.role).toBe("unknown");
    expect(body.client.length).toBe(256);
  });

  it("grants nothing from a role header", async () => {
    const reply = await app.inject({ method: "GET", url: "/admin", headers: { "x-pv-role": "admin" } });
    expect(reply.statusCode).toBe(403);
    expect(reply.json()).toMatchObject({ error: "Forbidden" });
  });

  it("unknown paths get a JSON 404", async () => {
    const reply = await app.inject({ method: "GET", url: "/nope" });
    expect(reply.statusCode).toBe(404);
    expect(reply.headers["content-type"]).toMatch(/application\/json/);
    expect(reply.json()).toEqual({ error: "Not Found", message: "no route GET /nope" });
  });

  it("malformed input gets a 4xx JSON answer", async () => {
    const badJson = await app.inject({ method: "POST", url: "/admin", headers: { "content-type": "application/json" }, payload: "{" });
    expect(badJson.statusCode).toBeGreaterThanOrEqual(400);
    expect(badJson.statusCode).toBeLessThan(500);
    const tooLarge = await app.inject({ method: "POST", url: "/info", headers: { "content-type": "application/json" }, payload: JSON.stringify({ x: "y".repeat(20_000) }) });
    expect(tooLarge.statusCode).toBeGreaterThanOrEqual(400);
    expect(tooLarge.statusCode).toBeLessThan(500);
    expect(tooLarge.json()).toHaveProperty("message");
  });
});
