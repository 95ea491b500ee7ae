// The one exit path of every program: `main()` resolves to an exit code; a thrown error becomes
// one clear line on stderr (its stack only when it is not an expected, already-explained failure).
import { logError } from "./log";

/** An error whose message already says everything the user needs: printed without a stack. */
export class FatalError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "FatalError";
  }
}

export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof FatalError) {
        logError(`FAILED: ${error.message}`);
        process.exit(error.exitCode);
      }
      logError(`FAILED: ${error instanceof Error ? error.message : String(error)}`, error);
      process.exit(1);
    },
  );
}
