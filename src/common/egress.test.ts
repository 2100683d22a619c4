/** Unit tests of the outbound request policy (DNS stubbed: nothing leaves the machine). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkUrl,
  egressPolicy,
  EgressRefusedError,
  guardedLookup,
  guardedRequest,
  isLinkLocal,
  refusedJobUrl,
  type LookupFunction,
} from './egress';

const policy = egressPolicy(['backend', 'cdn.shop.example'], ['http://10.0.0.5:3000/admin-api']);

/** A DNS stub: answers from a table, sends nothing anywhere. */
function stubDns(table: Record<string, string[]>): LookupFunction {
  return (hostname, options, callback) => {
    const addresses = table[hostname];
    if (!addresses) return callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    const entries = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, entries);
    else callback(null, entries[0].address, entries[0].family);
  };
}

function resolveWith(lookup: LookupFunction, hostname: string, all = false): Promise<unknown> {
  return new Promise((resolve, reject) =>
    lookup(hostname, { all }, (err, address) => (err ? reject(err) : resolve(address))),
  );
}

describe('outbound request policy', () => {
  it('allows http(s) to the configured hosts and the job’s own hosts only', () => {
    assert.equal(checkUrl('http://backend:3000/assets/a.jpg', policy).hostname, 'backend');
    assert.equal(checkUrl('https://CDN.shop.example/x.png', policy).hostname, 'cdn.shop.example');
    assert.equal(checkUrl('http://10.0.0.5:3000/assets/1.jpg', policy).hostname, '10.0.0.5');
    assert.throws(
      () => checkUrl('http://evil.example/x.jpg', policy),
      new EgressRefusedError('host evil.example is not in ALLOWED_HOSTS'),
    );
    assert.throws(() => checkUrl('file:///etc/passwd', policy), /scheme file: is not allowed/);
    assert.throws(() => checkUrl('data:image/png;base64,AAAA', policy), /scheme data: is not allowed/);
    assert.throws(() => checkUrl('ftp://backend/x', policy), /scheme ftp: is not allowed/);
    assert.throws(() => checkUrl('gopher://backend/x', policy), /scheme gopher: is not allowed/);
    assert.throws(() => checkUrl('not a url', policy), /not a URL/);
  });

  it('allows the ports of ALLOWED_PORTS and of the job’s own URLs only', () => {
    assert.deepEqual(
      [...policy.ports].sort((a, b) => a - b),
      [80, 443, 3000],
    );
    assert.doesNotThrow(() => checkUrl('http://10.0.0.5/a.jpg', policy));
    assert.doesNotThrow(() => checkUrl('https://cdn.shop.example:443/a.jpg', policy));
    assert.throws(() => checkUrl('http://10.0.0.5:5432/a.jpg', policy), /port 5432 is not in ALLOWED_PORTS/);
    assert.throws(() => checkUrl('http://backend:3005/v1/jobs', policy), /port 3005 is not in ALLOWED_PORTS/);
    const cdnOnly = egressPolicy(['cdn'], ['http://backend:3000/admin-api'], [8443]);
    assert.doesNotThrow(() => checkUrl('https://cdn:8443/a.jpg', cdnOnly));
    assert.throws(() => checkUrl('https://cdn/a.jpg', cdnOnly), /port 443 is not in ALLOWED_PORTS/);
  });

  it('recognises link-local addresses (the cloud metadata range)', () => {
    for (const a of [
      '169.254.169.254',
      '169.254.0.1',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '[::ffff:a9fe:a9fe]',
      '0:0:0:0:0:ffff:a9fe:a9fe',
      'fe80::1',
      'FE80:0::1',
      'febf::1',
      'fd00:ec2::254',
      '100.100.100.200',
    ])
      assert.equal(isLinkLocal(a), true, a);
    for (const a of ['127.0.0.1', '10.0.0.5', '169.255.0.1', '::1', 'fec0::1', '2001:db8::1'])
      assert.equal(isLinkLocal(a), false, a);
  });

  it('refuses a host that resolves to a link-local address, unless that address is allowed', async () => {
    const dns = stubDns({
      backend: ['10.0.0.7'],
      'cdn.shop.example': ['169.254.169.254'],
      rebinding: ['10.0.0.8', 'fe80::2'],
    });
    const lookup = guardedLookup(policy, dns);
    assert.equal(await resolveWith(lookup, 'backend'), '10.0.0.7');
    await assert.rejects(resolveWith(lookup, 'cdn.shop.example'), /resolves to the link-local address 169.254.169.254/);
    await assert.rejects(resolveWith(lookup, 'rebinding', true), /link-local address fe80::2/);
    const trusting = guardedLookup(egressPolicy(['cdn.shop.example', '169.254.169.254']), dns);
    assert.equal(await resolveWith(trusting, 'cdn.shop.example'), '169.254.169.254');
  });

  it('never lets a job’s own URLs open a metadata or link-local address that ALLOWED_HOSTS does not list', () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/admin-api?query=query{x}',
      'http://[fe80::1]/admin-api',
      'http://[::ffff:169.254.169.254]/admin-api',
      'http://[fd00:ec2::254]/latest',
    ]) {
      const jobPolicy = egressPolicy(['backend'], [url, 'http://backend:3000/admin-api']);
      assert.throws(() => guardedRequest(url, jobPolicy), /link-local address .* is not allowed/, url);
      assert.match(refusedJobUrl(url, ['backend'])!, /is not allowed \(list it in ALLOWED_HOSTS/, url);
      const host = new URL(url).hostname;
      assert.equal(refusedJobUrl(url, ['backend', host]), null, `${url} with ${host} listed`);
    }
    assert.equal(refusedJobUrl('http://10.0.0.5:3000/admin-api', []), null);
    assert.equal(refusedJobUrl('http://backend:3000/admin-api', []), null, 'names are checked at DNS lookup');
    const dns = stubDns({ 'metadata.internal': ['169.254.169.254'] });
    const jobPolicy = egressPolicy([], ['http://metadata.internal/admin-api']);
    return assert.rejects(
      resolveWith(guardedLookup(jobPolicy, dns), 'metadata.internal'),
      /resolves to the link-local address 169.254.169.254/,
    );
  });

  it('refuses link-local IP literals and checks every redirect', () => {
    const open = egressPolicy(['169.254.169.254', 'backend']);
    assert.ok(guardedRequest('http://169.254.169.254/latest/meta-data', open), 'explicitly allowed');
    assert.throws(() => guardedRequest('http://[fe80::1]/', egressPolicy(['fe80::1x'])), /not in ALLOWED_HOSTS/);
    const options = guardedRequest('http://backend/a.jpg', policy);
    assert.equal(options.maxRedirects, 3);
    assert.doesNotThrow(() => options.beforeRedirect({ href: 'http://cdn.shop.example/b.jpg' }));
    assert.throws(
      () => options.beforeRedirect({ href: 'http://169.254.169.254/latest/meta-data' }),
      /not in ALLOWED_HOSTS/,
    );
    assert.throws(() => options.beforeRedirect({ protocol: 'file:', hostname: '' }), /scheme file: is not allowed/);
  });
});
