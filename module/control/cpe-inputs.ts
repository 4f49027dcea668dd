/**
 * What the CPE control plane learns, the inputs of decide(): the WAN's address, MTU and device
 * (wan-watcher.ts: rtnetlink or netifd) and the DHCP lease with its option 212 (dhcp-6rd.ts).
 * Each change is logged once, counted (wan_address_changes, dhcp_lease_updates) and reported
 * through `onChange(why)`; a lease whose option 212 did not change is not reported. The lease
 * decide() sees is vetted against the current WAN address and allow_ipv4 (dhcp-6rd.ts
 * vetSixRdLease), again whenever the WAN address changes.
 */
import { formatIpv4 } from "../addr/ipv4.js";
import type { CpeConfig } from "../config/parse.js";
import type { Logger } from "../log/logger.js";
import type { Clock } from "./clock.js";
import {
  DhcpLeaseWatcher,
  DHCP_LEASE_FILE_DEFAULT,
  sixRdKey,
  vetSixRdLease,
  type DhcpLease,
} from "./dhcp-6rd.js";
import { WanWatcher, type CommandRunner, type WanInfo } from "./wan-watcher.js";

interface CpeInputsOptions {
  readonly config: CpeConfig;
  readonly clock: Clock;
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** Follow netifd (OpenWrt) instead of rtnetlink. */
  readonly useUbus: boolean;
  /** udhcpc hook lease file; default DHCP_LEASE_FILE_DEFAULT. */
  readonly dhcpLeaseFile?: string;
  /** Counts an event under its status name. */
  readonly count: (name: string) => void;
  /** An input changed; `why` names which, for the state log line. */
  readonly onChange: (why: string) => void;
}

export class CpeInputs {
  /** The WAN as last learned (no address until start() has read it). */
  wan: WanInfo;
  /**
   * The last lease the DHCP client's hook reported, vetted (its option 212 refused, with the
   * reason, when a BR address is unusable with the current WAN), and when (clock ms).
   */
  lease: DhcpLease | null = null;
  leaseUpdatedMs: number | null = null;
  private readonly o: CpeInputsOptions;
  private readonly wanWatcher: WanWatcher;
  private readonly dhcp: DhcpLeaseWatcher;
  /** The lease as the hook reported it, before vetting. */
  private reported: DhcpLease | null = null;

  constructor(o: CpeInputsOptions) {
    const cfg = o.config;
    this.o = o;
    this.wan = {
      ipv4: null,
      mtu: 1500,
      device: cfg.wanDevice,
      ipv4Source: "none",
      mtuSource: "default",
    };
    this.wanWatcher = new WanWatcher({
      device: cfg.wanDevice,
      ubusInterface: cfg.wanInterface,
      useUbus: o.useUbus,
      staticIpv4: cfg.wanIpv4,
      staticMtu: cfg.wanMtu,
      clock: o.clock,
      runner: o.runner,
      onChange: (info) => this.wanChanged(info),
      log: (level, m) => o.log[level](m),
    });
    this.dhcp = new DhcpLeaseWatcher(o.dhcpLeaseFile ?? DHCP_LEASE_FILE_DEFAULT, (l) =>
      this.leaseChanged(l),
    );
  }

  /** Reads the lease file (with use_dhcp_6rd) and the WAN, and starts following both. */
  async start(): Promise<void> {
    if (this.o.config.useDhcp6rd) this.dhcp.start();
    await this.wanWatcher.start();
    // A static wan_ipv4 never fires onChange (it is already in the watcher's first value).
    this.wan = this.wanWatcher.current();
    if (this.reported?.sixrd) this.revet();
  }

  /** Re-reads both now; resolves when the WAN has been read. */
  async refresh(): Promise<void> {
    this.dhcp.check();
    await this.wanWatcher.refresh();
  }

  /** `reload` on the status socket: the lease is re-read even if unchanged, the WAN in the background. */
  reload(): void {
    this.dhcp.check(true);
    void this.wanWatcher.refresh();
  }

  stop(): void {
    this.dhcp.stop();
    this.wanWatcher.stop();
  }

  /** The reported lease vetted against the current WAN address and allow_ipv4. */
  private vetted(): DhcpLease | null {
    const l = this.reported;
    if (l === null) return null;
    return vetSixRdLease(l, { wanIpv4: this.wan.ipv4, allowIpv4: this.o.config.allowIpv4 });
  }

  private wanChanged(info: WanInfo): void {
    const old = this.wan;
    const log = this.o.log;
    this.wan = info;
    if (old.ipv4 !== info.ipv4) {
      this.o.count("wan_address_changes");
      log.info(
        `wan ${info.device ?? "?"} address ${old.ipv4 === null ? "none" : formatIpv4(old.ipv4)} -> ` +
          `${info.ipv4 === null ? "none" : formatIpv4(info.ipv4)} (${info.ipv4Source})`,
      );
    }
    if (old.ipv4 !== info.ipv4 && this.reported?.sixrd) this.revet();
    if (old.mtu !== info.mtu) log.info(`wan mtu ${old.mtu} -> ${info.mtu} (${info.mtuSource})`);
    // A DHCP client's script writes the lease file as the address comes: read it now rather than
    // at the next poll, so a new address is judged with the option 212 it came with (a shared-space
    // address is not refused for a moment for want of the operator's relay, RFC 6732 §4.2).
    if (old.ipv4 !== info.ipv4 && this.o.config.useDhcp6rd) this.dhcp.check();
    this.o.onChange("wan change");
  }

  /** A new WAN address may make the option usable or not: vet it again, log a change once. */
  private revet(): void {
    const before = this.lease;
    this.lease = this.vetted();
    if (this.lease?.sixrdError && this.lease.sixrdError !== before?.sixrdError) {
      this.o.log.warn(`dhcp option 212 ignored: ${this.lease.sixrdError}`);
    }
    const b = sixRdKey(before?.sixrd ?? null);
    const a = sixRdKey(this.lease?.sixrd ?? null);
    if (b !== a) this.o.log.info(`dhcp option 212 ${b} -> ${a} (wan address changed)`);
  }

  private leaseChanged(reported: DhcpLease | null): void {
    const log = this.o.log;
    const before = sixRdKey(this.lease?.sixrd ?? null);
    this.reported = reported;
    const lease = this.vetted();
    this.lease = lease;
    this.leaseUpdatedMs = this.o.clock.now();
    this.o.count("dhcp_lease_updates");
    const after = sixRdKey(lease?.sixrd ?? null);
    if (lease?.sixrdError) log.warn(`dhcp option 212 ignored: ${lease.sixrdError}`);
    if (before !== after) {
      log.info(
        `dhcp option 212 ${before} -> ${after}` +
          (this.o.config.useDhcp6rd ? "" : " (ignored: use_dhcp_6rd 0)"),
      );
      this.o.onChange("dhcp option 212");
    }
  }
}
