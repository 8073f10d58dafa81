import { describe, expect, it } from "vitest";
import { readClaims } from "./jwt";

function b64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const jwt = (payload: object) => `${b64url('{"alg":"ES256","kid":"k1"}')}.${b64url(JSON.stringify(payload))}.sig`;

describe("readClaims", () => {
  it("reads sub, sid and exp", () => {
    expect(readClaims(jwt({ sub: "XY12345", sid: "s1", exp: 1700000000, name: "Ünïcode User" }))).toEqual({
      sub: "XY12345",
      sid: "s1",
      exp: 1700000000,
      name: "Ünïcode User",
    });
  });

  it("returns null for anything that is not a JWT with a sub", () => {
    expect(readClaims("nope")).toBeNull();
    expect(readClaims("a.!!!.c")).toBeNull();
    expect(readClaims(jwt({ exp: 1 }))).toBeNull();
  });
});
