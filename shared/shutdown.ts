// Signal-driven shutdown. A signal only *starts* the shutdown: it aborts the returned signal, and
// the program's own code then runs its teardown once, after its main loop ends. A second signal
// while tearing down is ignored (not a crash, not a second teardown).
import { once } from "node:events";

/** An AbortSignal that is aborted on the first SIGTERM or SIGINT. */
export function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) controller.abort(signal);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return controller.signal;
}

/**
 * Resolves when the signal is aborted. A pending listener does not keep Node running by itself,
 * so a timer does, until then: a program with nothing else to wait for still waits here.
 */
export async function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await once(signal, "abort");
  } finally {
    clearInterval(keepAlive);
  }
}

/** Sleeps, waking early (without throwing) when the signal is aborted. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
