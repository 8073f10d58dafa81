import { StrictMode, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";

function readBenchOptions(
  search: string,
): { symbols: number; ratePerSymbol: number; batchesPerSecond: number; sparklines: boolean } | null {
  const params = new URLSearchParams(search);
  if (params.get("bench") !== "synthetic") return null;
  const number = (name: string, fallback: number) => {
    const value = Number(params.get(name));
    return Number.isFinite(value) && value > 0 ? value : fallback;
  };
  return {
    symbols: Math.round(number("symbols", 200)),
    ratePerSymbol: number("rate", 10),
    batchesPerSecond: number("batches", 50),
    sparklines: params.get("sparklines") !== "0",
  };
}

async function start(root: HTMLElement) {
  const bench = readBenchOptions(window.location.search);
  let page: ReactNode;
  if (bench !== null) {
    // Loaded only for the benchmark: the live page does not carry the synthetic feed.
    const { BenchApp, prepareBench } = await import("./bench/BenchApp");
    prepareBench(bench);
    page = <BenchApp {...bench} />;
  } else {
    page = <App />;
  }
  createRoot(root).render(<StrictMode>{page}</StrictMode>);
}

const root = document.getElementById("root");
if (root !== null) void start(root);
