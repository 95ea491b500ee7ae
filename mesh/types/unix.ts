// type `unix`: a byte proxy, the same under both profiles (see ../proxy.ts for how ends differ).
import { spliceProxy } from "../proxy";
import type { Injector } from "./link";

export const injectUnix: Injector = spliceProxy;
