/**
 * Checks of configured addresses, ranges and devices beyond their syntax (parse.ts checks that):
 * values that parse but can never work, each refused with one ConfigError line naming the option
 * and what is expected (the CLI exits 2). The address rules are those the data plane applies per
 * packet (RFC 3964 §5.3, addr/peer-check.ts), so a value is refused at start instead of every
 * packet being dropped later.
 *
 * CPE:
 *   - allow_ipv4: only ranges an operator can re-enable (private, shared); 127.0.0.0/8 or a
 *     multicast range could never take effect.
 *   - relay: at most MAX_RELAYS addresses, each unicast and allowed by RFC 3964 §5.3.1 (private or
 *     shared space only inside allow_ipv4), none equal to wan_ipv4.
 *   - lan_device: not the wan_device (RAs and the LAN address would go out on the WAN). A tun_name
 *     taken by another device fails at start (exit 4, cli/exit-codes.ts), so it is not checked.
 *   - dns: unicast (not ::, ::1 or multicast; RFC 8106 §5.1 servers).
 *   - health_target: an address the tunnel carries (RFC 3964 §5.3.2, 2002:V4ADDR:: with a V4ADDR
 *     that passes the relay rule).
 * Relay:
 *   - relay_ipv4: at most MAX_RELAY_OWN_IPV4 addresses, none unspecified, loopback, link-local,
 *     multicast, reserved or broadcast (the relay receives and sends protocol 41 on them).
 *   - customer_ipv4: no range overlapping one of those (0.0.0.0/0, 127.0.0.0/8, 224.0.0.0/3, ...).
 *   - announce_ipv4: unicast addresses, as relay_ipv4; health_target: unicast IPv6.
 */
import { formatIpv4 } from "../addr/ipv4.js";
import type { Ipv4Prefix } from "../addr/ipv4.js";
import { ineffectiveAllowedPrefixes } from "../addr/classify.js";
import {
  customerRangeProblem,
  ipv6PeerProblem,
  ipv6UnicastProblem,
  MAX_RELAY_OWN_IPV4,
  MAX_RELAYS,
  neverUnicastRange,
  relayListProblem,
} from "../addr/peer-check.js";
import { ConfigError } from "./config-error.js";

/** The option's label as the user wrote it (`--relay`, `relay (in /etc/6to4-pmt.json)`). */
type Label = (name: string) => string;

const fail = (label: Label, name: string, text: string): never => {
  throw new ConfigError(`${label(name)}: ${text}`, label(name));
};

/** Applies the file comment's rules to the parsed values of `role`. @throws ConfigError. */
export function checkValues(
  role: "cpe" | "relay",
  cfg: Readonly<Record<string, unknown>>,
  label: Label,
): void {
  if (role === "cpe") checkCpeValues(cfg, label);
  else checkRelayValues(cfg, label);
}

function checkCpeValues(cfg: Readonly<Record<string, unknown>>, label: Label): void {
  const allow = cfg.allowIpv4 as readonly Ipv4Prefix[];
  const never = ineffectiveAllowedPrefixes(allow);
  if (never.length > 0) {
    fail(
      label,
      "allow_ipv4",
      `expected private or shared ranges (RFC 3964 §5.3.1 lets nothing else be allowed), ` +
        `got "${never[0]}", which can never be a 6to4 address`,
    );
  }
  const wanIpv4 = cfg.wanIpv4 as number | null;
  const relays = cfg.relay as readonly number[];
  const relayProblem = relayListProblem(relays, {
    ownIpv4: wanIpv4 === null ? [] : [wanIpv4],
    allowIpv4: allow,
    allowName: "allow_ipv4",
  });
  if (relayProblem !== null) {
    fail(
      label,
      "relay",
      `expected at most ${MAX_RELAYS} unicast IPv4 addresses RFC 3964 §5.3.1 allows ` +
        `(private/shared only inside allow_ipv4), not wan_ipv4; ${relayProblem}`,
    );
  }

  const lan = cfg.lanDevice as string;
  const wan = cfg.wanDevice as string | null;
  if (wan !== null && lan === wan) {
    fail(label, "lan_device", `expected a device other than wan_device, got "${lan}"`);
  }

  for (const d of cfg.dns as readonly Uint8Array[]) {
    const p = ipv6UnicastProblem(d);
    if (p !== null) fail(label, "dns", `expected unicast IPv6 addresses; ${p}`);
  }

  const target = cfg.healthTarget as Uint8Array | null;
  if (target !== null) {
    const p = ipv6PeerProblem(target, allow, "allow_ipv4");
    if (p !== null) {
      fail(label, "health_target", `expected a unicast IPv6 address RFC 3964 §5.3.2 allows; ${p}`);
    }
  }
}

function checkRelayValues(cfg: Readonly<Record<string, unknown>>, label: Label): void {
  const own = cfg.relayIpv4 as readonly number[];
  if (own.length > MAX_RELAY_OWN_IPV4) {
    fail(
      label,
      "relay_ipv4",
      `expected at most ${MAX_RELAY_OWN_IPV4} addresses, got ${own.length}`,
    );
  }
  for (const a of own) {
    const r = neverUnicastRange(a);
    if (r !== null) {
      fail(
        label,
        "relay_ipv4",
        `expected unicast IPv4 addresses, got "${formatIpv4(a)}" (${r.cls}, ${r.rfc})`,
      );
    }
  }
  for (const a of cfg.announceIpv4 as readonly number[]) {
    const r = neverUnicastRange(a);
    if (r !== null) {
      fail(
        label,
        "announce_ipv4",
        `expected unicast IPv4 addresses, got "${formatIpv4(a)}" (${r.cls}, ${r.rfc})`,
      );
    }
  }
  const upstream = cfg.healthTarget as Uint8Array | null;
  if (upstream !== null) {
    const p = ipv6UnicastProblem(upstream);
    if (p !== null) fail(label, "health_target", `expected a unicast IPv6 address; ${p}`);
  }
  const lists: [string, readonly Ipv4Prefix[] | null][] = [
    ["customer_ipv4", cfg.customerIpv4 as readonly Ipv4Prefix[]],
    ["pmt_customer_ipv4", (cfg.pmtCustomerIpv4 as readonly Ipv4Prefix[] | null) ?? null],
  ];
  for (const [option, list] of lists) {
    for (const p of list ?? []) {
      const problem = customerRangeProblem(p);
      if (problem !== null) {
        fail(label, option, `expected ranges of unicast customer addresses; ${problem}`);
      }
    }
  }
}
