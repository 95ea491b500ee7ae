// The live heap of this test process: what is left after a full garbage collection. For tests that
// check that a loop keeps nothing per iteration.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;

export function liveHeapBytes(): number {
  gc();
  return process.memoryUsage().heapUsed;
}
