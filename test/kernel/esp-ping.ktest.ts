// End to end with iproute2 only: two namespaces joined by a veth pair, an xfrm interface in each
// (bound to the veth, same if_id), static ESP SAs and policies keyed by that if_id, routes to the
// peer's inner address via the xfrm interface. A ping crosses the tunnel and the SA counters rise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexKey, linkShow, Netns, ping, saCounters } from './lib.ts';

interface Family {
  name: string;
  outer: [string, string];
  inner: [string, string];
  plen: number;
  /** `ip xfrm state` algorithm arguments, the same key on both ends */
  algo: string[];
  nodad: string[];
}

const aeadKey = hexKey(20); // AES-128 + 4-byte salt
const encKey = hexKey(16);
const authKey = hexKey(32);

const families: Family[] = [
  {
    name: 'IPv4 in IPv4, rfc4106(gcm(aes))',
    outer: ['192.0.2.1', '192.0.2.2'],
    inner: ['10.99.0.1', '10.99.0.2'],
    plen: 24,
    algo: ['aead', 'rfc4106(gcm(aes))', aeadKey, '128'],
    nodad: [],
  },
  {
    name: 'IPv6 in IPv6, cbc(aes) + hmac(sha256)',
    outer: ['2001:db8:1::1', '2001:db8:1::2'],
    inner: ['fd99::1', 'fd99::2'],
    plen: 64,
    algo: ['enc', 'cbc(aes)', encKey, 'auth-trunc', 'hmac(sha256)', authKey, '128'],
    nodad: ['nodad'],
  },
];

const IF_ID = 0x42;

describe.each(families)('ESP through xfrm interfaces: $name', (f) => {
  let a: Netns;
  let b: Netns;
  const spiAB = 0x1000 + Math.floor(Math.random() * 0x1000);
  const spiBA = spiAB + 0x1000;

  beforeAll(() => {
    a = new Netns('xk-a');
    b = new Netns('xk-b');
    // veth between the two namespaces, created from a and moved into b
    a.ip('link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1', 'netns', b.name);
    const ends: [Netns, string, number][] = [
      [a, 'u0', 0],
      [b, 'u1', 1],
    ];
    for (const [ns, dev, i] of ends) {
      const me = i;
      const peer = 1 - i;
      const q = (s: string[]) => s.map((x) => (/[()]/.test(x) ? `"${x}"` : x)).join(' ');
      const sa = (src: string, dst: string, spi: number) =>
        `xfrm state add src ${src} dst ${dst} proto esp spi ${spi} reqid 1 mode tunnel if_id ${IF_ID} ${q(f.algo)}`;
      const pol = (dir: string, src: string, dst: string) =>
        `xfrm policy add dir ${dir} src ${f.outer[0].includes(':') ? '::/0' : '0.0.0.0/0'} ` +
        `dst ${f.outer[0].includes(':') ? '::/0' : '0.0.0.0/0'} if_id ${IF_ID} ` +
        `tmpl src ${src} dst ${dst} proto esp reqid 1 mode tunnel`;
      const outSpi = i === 0 ? spiAB : spiBA;
      const inSpi = i === 0 ? spiBA : spiAB;
      ns.batch([
        `addr add ${f.outer[me]}/${f.plen} dev ${dev} ${f.nodad.join(' ')}`,
        `link set ${dev} up`,
        `link add ipsec1 type xfrm dev ${dev} if_id ${IF_ID}`,
        `addr add ${f.inner[me]} dev ipsec1 ${f.nodad.join(' ')}`,
        `link set ipsec1 up`,
        `route add ${f.inner[peer]} dev ipsec1`,
        sa(f.outer[me]!, f.outer[peer]!, outSpi),
        sa(f.outer[peer]!, f.outer[me]!, inSpi),
        pol('out', f.outer[me]!, f.outer[peer]!),
        pol('in', f.outer[peer]!, f.outer[me]!),
      ]);
    }
  });

  afterAll(() => {
    a?.destroy();
    b?.destroy();
  });

  it('the xfrm interface carries the if_id and its parent', () => {
    const l = linkShow(a, 'ipsec1');
    expect(l.linkinfo?.info_kind).toBe('xfrm');
    expect(Number(l.linkinfo?.info_data?.if_id)).toBe(IF_ID);
    expect(l.link).toBe('u0');
  });

  it('ping crosses the tunnel and the SA counters rise on both ends', () => {
    const before = saCounters(a, spiAB);
    expect(before.ifId).toBe(IF_ID);
    expect(before.packets).toBe(0);

    const r = ping(a, f.inner[1]!, 3);
    expect(r.ok, r.stdout + r.stderr).toBe(true);

    const outA = saCounters(a, spiAB);
    const inB = saCounters(b, spiAB);
    const outB = saCounters(b, spiBA);
    const inA = saCounters(a, spiBA);
    for (const sa of [outA, inB, outB, inA]) {
      expect(sa.packets).toBeGreaterThanOrEqual(3);
      expect(sa.bytes).toBeGreaterThan(sa.packets * 20);
    }
    // packets counted through the xfrm interfaces too
    const la = linkShow(a, 'ipsec1', true);
    expect(la.stats64?.tx.packets).toBeGreaterThanOrEqual(3);
    expect(la.stats64?.rx.packets).toBeGreaterThanOrEqual(3);
  });

  it('inbound ESP reaches the xfrm interface only while it is up', () => {
    b.ip('link', 'set', 'ipsec1', 'down');
    const r = ping(a, f.inner[1]!, 1);
    expect(r.ok).toBe(false);
    b.ip('link', 'set', 'ipsec1', 'up');
    // Down flushes the IPv6 addresses (keep_addr_on_down=0) and with them the routes: put them back.
    b.batch([`addr replace ${f.inner[1]} dev ipsec1 ${f.nodad.join(' ')}`, `route replace ${f.inner[0]} dev ipsec1`]);
    expect(ping(a, f.inner[1]!, 1).ok).toBe(true);
  });
});
