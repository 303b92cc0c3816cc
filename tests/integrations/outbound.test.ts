/**
 * The destination rules (SSRF guard) and the signature scheme, without a server: which addresses are
 * refused, that a host name resolving to a private address is refused at connect time (DNS rebinding),
 * that signatures verify only with the right secret and a fresh timestamp, and the backoff's bounds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signatureHeader, verifySignature } from '../../activities/integrations/signature';
import { backoffMs, retryAfterMs } from '../../activities/integrations/webhooks';
import {
  addressAllowed,
  checkDestination,
  destinationPolicy,
  DestinationRefused,
  guardedRequest,
} from '../../platform/outbound';

const strict = destinationPolicy({ WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: false });

describe('destination rules', () => {
  it('refuses private, loopback, link-local, CGNAT, unique-local and mapped addresses; allows public ones', () => {
    for (const a of [
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '127.0.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '224.0.0.1',
    ]) {
      expect(addressAllowed(a, strict), a).toBe(false);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'])
      expect(addressAllowed(a, strict), a).toBe(true);
  });

  it('judges an IPv6 address that carries an IPv4 one by the IPv4 host it reaches', () => {
    const refused = {
      'IPv4-compatible loopback': '::127.0.0.1',
      'IPv4-compatible, hex': '::7f00:1',
      'IPv4-compatible private': '::10.0.0.1',
      'IPv4-mapped loopback': '::ffff:127.0.0.1',
      'IPv4-mapped metadata': '::ffff:a9fe:a9fe',
      'SIIT-translated loopback': '::ffff:0:127.0.0.1',
      'NAT64 loopback': '64:ff9b::127.0.0.1',
      'NAT64 private': '64:ff9b::c0a8:101',
      'NAT64 local-use prefix': '64:ff9b:1::a00:1',
      '6to4 of loopback': '2002:7f00:1::1',
      '6to4 of a private network': '2002:c0a8:101::1',
      'Teredo, client loopback': '2001:0:808:808:0:0:80ff:fffe',
      'Teredo, server private': '2001:0:a00:1:0:0:f7f7:f7f7',
    };
    for (const [form, a] of Object.entries(refused)) expect(addressAllowed(a, strict), form).toBe(false);
    const allowed = {
      'IPv4-mapped public': '::ffff:8.8.8.8',
      'NAT64 public (DNS64 answers)': '64:ff9b::8.8.8.8',
      '6to4 of a public address': '2002:808:808::1',
      'Teredo, server and client public': '2001:0:808:808:0:0:f7f7:f7f7',
    };
    for (const [form, a] of Object.entries(allowed)) expect(addressAllowed(a, strict), form).toBe(true);
    // The allow-list names IPv4 hosts; the forms that reach them are opened with them.
    const loopback = destinationPolicy({
      WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: false,
      WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8',
    });
    expect(addressAllowed('64:ff9b::127.0.0.1', loopback)).toBe(true);
    expect(addressAllowed('64:ff9b::10.0.0.1', loopback)).toBe(false);
  });

  it('refuses a URL written with an IPv4-compatible IPv6 literal before connecting', async () => {
    let reached = false;
    const server = createServer((_req, res) => {
      reached = true;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const host of ['[::127.0.0.1]', '[::ffff:127.0.0.1]', '[64:ff9b::7f00:1]', '[2002:7f00:1::]']) {
        const url = `http://${host}:${port}/`;
        await expect(checkDestination(url, strict), host).rejects.toThrow(DestinationRefused);
        await expect(
          guardedRequest({ method: 'POST', url, body: '{}', timeoutMs: 2000 }, strict),
          host,
        ).rejects.toThrow(/not a public address/);
      }
      expect(reached).toBe(false);
    } finally {
      server.close();
    }
  });

  it('lets the allow-list and the switch open exactly what they name', () => {
    const loopback = destinationPolicy({
      WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: false,
      WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8, 10.1.2.3',
    });
    expect(addressAllowed('127.0.0.1', loopback)).toBe(true);
    expect(addressAllowed('::ffff:127.0.0.2', loopback)).toBe(true);
    expect(addressAllowed('10.1.2.3', loopback)).toBe(true);
    expect(addressAllowed('10.1.2.4', loopback)).toBe(false);
    expect(addressAllowed('169.254.169.254', loopback)).toBe(false);
    expect(
      addressAllowed('192.168.0.1', destinationPolicy({ WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: true })),
    ).toBe(true);
  });

  it('refuses a host name that resolves to loopback at registration and again when connecting', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      await expect(checkDestination(`http://localhost:${port}/`, strict)).rejects.toThrow(DestinationRefused);
      // A URL registered while its name resolved elsewhere is still refused at the socket.
      await expect(
        guardedRequest(
          { method: 'POST', url: `http://localhost:${port}/`, body: '{}', timeoutMs: 2000 },
          strict,
        ),
      ).rejects.toThrow(/non-public/);
      const allowed = destinationPolicy({
        WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: false,
        WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8,::1/128',
      });
      const res = await guardedRequest(
        { method: 'POST', url: `http://localhost:${port}/`, body: '{}', timeoutMs: 2000 },
        allowed,
      );
      expect(res.status).toBe(200);
    } finally {
      server.close();
    }
  });
});

describe('signatures', () => {
  it('verify with any of the signing secrets, and fail for a wrong secret, changed body or stale time', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (body, a, b) => {
        fc.pre(a !== b);
        const t = 1_800_000_000;
        const header = signatureHeader(body, t, [a, b]);
        expect(verifySignature(header, body, a, { now: t })).toBe(true);
        expect(verifySignature(header, body, b, { now: t + 299 })).toBe(true);
        expect(verifySignature(header, `${body}x`, a, { now: t })).toBe(false);
        expect(verifySignature(header, body, `${a}${b}`, { now: t })).toBe(false);
        expect(verifySignature(header, body, a, { now: t + 301 })).toBe(false);
      }),
    );
    expect(() => signatureHeader('{}', 1, [])).toThrow(/unsigned/);
  });
});

describe('retry timing', () => {
  it('backs off exponentially with jitter inside [step/2, step], capped', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, r) => {
          const step = Math.min(60_000, 1000 * 2 ** (attempt - 1));
          const d = backoffMs(attempt, 1000, 60_000, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(step / 2));
          expect(d).toBeLessThanOrEqual(step);
        },
      ),
    );
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('7')).toBe(7000);
    const now = Date.parse('2026-11-27T12:00:00Z');
    expect(retryAfterMs('Fri, 27 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
