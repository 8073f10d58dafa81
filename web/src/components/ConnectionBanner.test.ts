import { describe, expect, it } from "vitest";
import { bannerText, isDisconnected } from "./ConnectionBanner";

describe("connection banner", () => {
  it("says when prices are from and when the next try is (IST)", () => {
    // 2026-12-04T09:02:05Z is 14:32:05 in India.
    const asOf = Date.UTC(2026, 11, 4, 9, 2, 5);
    expect(bannerText(asOf, asOf + 10_000, asOf + 6_200)).toBe("Disconnected — prices as of 14:32:05, retrying in 4 s");
    expect(bannerText(null, null, asOf)).toBe("Disconnected — reconnecting…");
  });

  it("counts a lost connection as disconnected, the first connect not", () => {
    expect(isDisconnected({ connection: "reconnecting" })).toBe(true);
    expect(isDisconnected({ connection: "offline" })).toBe(true);
    expect(isDisconnected({ connection: "connecting" })).toBe(false);
    expect(isDisconnected({ connection: "connected" })).toBe(false);
  });
});
