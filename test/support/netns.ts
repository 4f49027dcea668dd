/**
 * Network-namespace helper for integration tests and the benchmark (root only). The implementation
 * lives in module/cli/lab-netns.ts because `6to4-pmt lab` (inside the bundle) uses the same code;
 * tests import it from here.
 */
export * from "../../module/cli/lab-netns.js";
