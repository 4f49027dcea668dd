/**
 * The exit codes of `6to4-pmt`, one per failure class, as odhcpd's `main` returns a distinct code
 * for "not root" and "subsystem init failed". Every subcommand (and `6to4-pmt lab`) uses these.
 */

/** Success (`lab`: the demonstration passed). */
export const EXIT_OK = 0;
/** Failure at run time: a port disappeared, the daemon answered an error, `lab` failed. */
export const EXIT_RUNTIME = 1;
/** Bad command line or configuration (one line on stderr names the option). */
export const EXIT_USAGE = 2;
/**
 * The command needs root (network namespaces) or, for the daemons, CAP_NET_ADMIN and CAP_NET_RAW
 * (TUN device, raw sockets, routes; cli/privilege-drop.ts).
 */
export const EXIT_NOT_ROOT = 3;
/** A subsystem could not start: TUN, raw socket, native addon, control plane. */
export const EXIT_INIT = 4;
/** `status`: no daemon answers on the status socket. */
export const EXIT_NO_DAEMON = 5;
/** `status`: the daemon runs, IPv6 is degraded (not confirmed yet, probes failing, lifetime 0). */
export const EXIT_IPV6_DEGRADED = 6;
/** `status`: the daemon runs, IPv6 is down (not running, route missing, tunnel not answering). */
export const EXIT_IPV6_DOWN = 7;

/** The codes as `--help` lists them. */
export const EXIT_CODES_TEXT =
  "Exit codes: 0 ok, 1 runtime failure, 2 usage/config error, 3 not root / missing capabilities,\n" +
  "4 subsystem init failed, 5 no daemon running (status),\n" +
  "6 IPv6 degraded, 7 IPv6 down (status; 0: IPv6 works).";
