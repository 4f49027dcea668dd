// Our decoders against packets a real Linux kernel (and radvd) put on the wire.
//
//   p<pid>-cr (router, radvd)                p<pid>-ch (host)
//   va 2001:db8:6732::1/64  <--- veth --->  vb 2001:db8:6732::2/64   capture: tshark -i vb
//
// Traffic: kernel Neighbor Solicitation/Advertisement (RFC 4861 §4.3, §4.4), ping6 echo
// (RFC 4443 §4.1, §4.2), a TCP handshake (RFC 9293 §3.5) and a Router Advertisement from radvd
// with PIO, MTU, RIO, RDNSS, DNSSL (RFC 4861 §4.2, §4.6, RFC 4191 §2.3, RFC 8106 §5). The pcap
// is read with test/support/pcap.ts and decoded with module/codec. Root only; Debian packages
// tshark, radvd, iputils-ping, iproute2.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fold, onesSum, pseudoHeaderSumV6 } from "../../module/codec/checksum.js";
import * as icmpv6 from "../../module/codec/icmpv6.js";
import * as ipv6 from "../../module/codec/ipv6.js";
import { ndMessage, type NdMessage, type RouterAdvertisement } from "../../module/codec/nd.js";
import { formatIpv6 } from "../../module/addr/ipv6.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { networkPacket, readPcap } from "../support/pcap.js";
import { addr6 } from "../support/packet-builder.js";

const skip =
  netnsSkipReason() ??
  toolSkipReason("tshark") ??
  toolSkipReason("radvd") ??
  toolSkipReason("ping");

const reg = new NetnsRegistry();
const dir = mkdtempSync(join(tmpdir(), "6to4pmt-kernel-"));
after(async () => {
  await reg.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const A = "2001:db8:6732::1";
const B = "2001:db8:6732::2";

const RADVD_CONF = `interface va {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvDefaultLifetime 1800;
  AdvDefaultPreference high;
  AdvOtherConfigFlag on;
  AdvLinkMTU 1480;
  AdvSourceLLAddress on;
  prefix 2001:db8:6732::/64 {
    AdvOnLink on;
    AdvAutonomous on;
    AdvValidLifetime 5400;
    AdvPreferredLifetime 2700;
  };
  route 2001:db8:6733::/48 {
    AdvRoutePreference high;
    AdvRouteLifetime 1800;
  };
  RDNSS 2001:db8:6732::53 {
    AdvRDNSSLifetime 1800;
  };
  DNSSL example.com lan {
    AdvDNSSLLifetime 1800;
  };
};
`;

// Node one-liners for the TCP handshake (no extra packages needed).
const SERVER = `const s=require("net").createServer(c=>{c.end("hi");s.close();});
s.listen(8080,"${B}",()=>console.log("listening"));`;
const CLIENT = `const c=require("net").connect(8080,"${B}",()=>{});
c.on("data",d=>process.stdout.write(d));c.on("close",()=>process.exit(0));
setTimeout(()=>process.exit(3),5000).unref();`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  echoRequests: icmpv6.Icmpv6Message[];
  echoReplies: icmpv6.Icmpv6Message[];
  tcpFlags: number[];
  ras: RouterAdvertisement[];
  raHopLimits: number[];
  nd: NdMessage[];
}

test(
  "kernel ping6, TCP handshake and radvd RA decode with our codecs",
  { skip, timeout: 60_000 },
  async () => {
    const r = reg.createNamespace("cr", { forwarding: true });
    const h = reg.createNamespace("ch");
    reg.veth(r, "va", h, "vb");
    reg.addr(r, "va", `${A}/64`);
    reg.addr(h, "vb", `${B}/64`);
    const pcapFile = join(dir, "kernel.pcap");

    const cap = reg.spawn(h, ["tshark", "-n", "-q", "-i", "vb", "-F", "pcap", "-w", pcapFile]);
    assert.ok(await reg.waitFor(() => /Capturing on/.test(cap.stderr()), 15_000), cap.stderr());
    await sleep(300);

    // 1. ping6 (the kernel resolves the neighbour first: NS/NA).
    const ping = await reg.execAsync(r, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", B]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);

    // 2. TCP handshake: server in the host namespace, client in the router namespace.
    const server = reg.spawn(h, [process.execPath, "-e", SERVER]);
    assert.ok(
      await reg.waitFor(() => server.stdout().includes("listening"), 5000),
      server.stderr(),
    );
    const client = await reg.execAsync(r, [process.execPath, "-e", CLIENT], 10_000);
    assert.equal(client.stdout, "hi", client.stderr);

    // 3. radvd in the router namespace.
    const conf = join(dir, "radvd.conf");
    writeFileSync(conf, RADVD_CONF);
    const radvd = reg.spawn(r, [
      "radvd",
      "-n",
      "-C",
      conf,
      "-p",
      join(dir, "radvd.pid"),
      "-m",
      "stderr",
    ]);
    // Until the host's kernel took an RA (its default route via the router; bounded wait): the
    // capture on the same link has seen it.
    const raTaken = await reg.waitFor(
      () => /^default .*proto ra/m.test(reg.exec(h, ["ip", "-6", "route", "show"]).stdout),
      20_000,
      100,
    );
    assert.ok(!radvd.hasExited(), `radvd exited: ${radvd.stderr()}`);
    assert.ok(raTaken, `no RA taken by the host: ${reg.exec(h, ["ip", "-6", "route"]).stdout}`);
    await reg.stop(radvd);
    await sleep(300);
    await reg.stop(cap, 5000, "SIGINT");

    const pcap = readPcap(pcapFile);
    assert.equal(pcap.linktype, 1, "Ethernet capture on a veth");
    const seen: Seen = {
      echoRequests: [],
      echoReplies: [],
      tcpFlags: [],
      ras: [],
      raHopLimits: [],
      nd: [],
    };
    const ul = ipv6.createUpperLayer();
    for (const rec of pcap.records) {
      const np = networkPacket(pcap.linktype, rec.data);
      if (np === null || np.family !== 6) continue;
      const off = np.offset;
      const pkt = np.data;
      const len = pkt.length - off;
      const hdr = ipv6.decode(pkt, off, len);
      assert.equal(ipv6.walkToUpperLayer(pkt, off, len, ul), 0, "walk accepts kernel packets");
      const addrs = { src: hdr.src, dst: hdr.dst };
      const ulLen = off + 40 + hdr.payloadLength - ul.offset;
      if (ul.proto === 58) {
        const type = pkt[ul.offset]!;
        if (type >= 133 && type <= 136) {
          const m = ndMessage.decode(pkt, ul.offset, ulLen, addrs); // verifies the checksum
          assert.equal(hdr.hopLimit, 255, "ND hop limit (RFC 4861 §6.1)");
          if (m.kind === "router-advertisement") seen.ras.push(m);
          else seen.nd.push(m);
        } else if (type === 128 || type === 129) {
          const m = icmpv6.decode(pkt, ul.offset, ulLen, addrs);
          (type === 128 ? seen.echoRequests : seen.echoReplies).push(m);
        }
      } else if (ul.proto === 6) {
        seen.tcpFlags.push(pkt[ul.offset + 13]! & 0x3f);
        // With veth TX checksum offload the capture may hold the partial (pseudo-header) sum.
        const ph = pseudoHeaderSumV6(pkt, off + 8, off + 24, ulLen, 6);
        const full = fold(onesSum(pkt, ul.offset, ul.offset + ulLen, ph));
        const field = pkt.readUInt16BE(ul.offset + 16);
        assert.ok(full === 0xffff || field === fold(ph), `TCP checksum 0x${field.toString(16)}`);
      }
    }

    // ping6: two requests and two replies, matching id/seq/data.
    assert.equal(seen.echoRequests.length, 2, "echo requests");
    assert.equal(seen.echoReplies.length, 2, "echo replies");
    const req = seen.echoRequests[0]!;
    const rep = seen.echoReplies[0]!;
    assert.ok(req.kind === "echo-request" && rep.kind === "echo-reply");
    assert.equal(rep.id, req.id);
    assert.equal(rep.seq, req.seq);
    assert.deepStrictEqual(rep.data, req.data);

    // Neighbour discovery done by the kernel before the first echo.
    const ns = seen.nd.find((m) => m.kind === "neighbor-solicitation");
    const na = seen.nd.find((m) => m.kind === "neighbor-advertisement");
    assert.ok(ns && na, `NS and NA seen: ${seen.nd.map((m) => m.kind).join(",")}`);

    // TCP: SYN, SYN+ACK, ACK come first.
    assert.deepStrictEqual(seen.tcpFlags.slice(0, 3), [0x02, 0x12, 0x10], "TCP handshake");

    // radvd's RA.
    assert.ok(seen.ras.length >= 1, "at least one RA from radvd");
    const ra = seen.ras[0]!;
    assert.equal(ra.preference, "high");
    assert.equal(ra.routerLifetime, 1800);
    assert.equal(ra.other, true);
    assert.equal(ra.managed, false);
    const kinds = ra.options.map((o) => o.kind);
    for (const k of [
      "source-link-layer-address",
      "mtu",
      "prefix-information",
      "route-information",
      "rdnss",
      "dnssl",
    ]) {
      assert.ok(kinds.includes(k as never), `RA carries ${k}: ${kinds.join(",")}`);
    }
    for (const o of ra.options) {
      switch (o.kind) {
        case "source-link-layer-address":
          assert.equal(o.address.length, 6);
          break;
        case "mtu":
          assert.equal(o.mtu, 1480);
          break;
        case "prefix-information":
          assert.deepStrictEqual(
            { ...o, prefix: formatIpv6(o.prefix) },
            {
              kind: "prefix-information",
              prefixLength: 64,
              onLink: true,
              autonomous: true,
              validLifetime: 5400,
              preferredLifetime: 2700,
              prefix: "2001:db8:6732::",
            },
          );
          break;
        case "route-information":
          assert.deepStrictEqual(
            { ...o, prefix: formatIpv6(o.prefix) },
            {
              kind: "route-information",
              prefixLength: 48,
              preference: "high",
              routeLifetime: 1800,
              prefix: "2001:db8:6733::",
            },
          );
          break;
        case "rdnss":
          assert.equal(o.lifetime, 1800);
          assert.deepStrictEqual(o.servers, [addr6("2001:db8:6732::53")]);
          break;
        case "dnssl":
          assert.equal(o.lifetime, 1800);
          assert.deepStrictEqual(o.domains, ["example.com", "lan"]);
          break;
        default:
          break;
      }
    }
  },
);
