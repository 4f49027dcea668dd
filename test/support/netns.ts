/**
 * Network-namespace helper for integration tests and the benchmark (root only). The implementation
 * lives in module/lab/netns.ts because `6to4-pmt lab` (inside the bundle) uses the same code;
 * tests import it from here.
 */
export * from "../../module/lab/netns.js";
