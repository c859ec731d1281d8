/**
 * The two document stores on their own: the Cloudinary adapter (the real SDK against the fake
 * Upload API, chunk by chunk, with its errors split into transient and permanent) and the
 * development store on the local disk. Both keep documents private and read them back only
 * through the store itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetCircuits } from '../providers/circuit-breaker.ts';
import { CloudinaryDocumentStore, parseCloudinaryUrl } from '../providers/cloudinary.ts';
import { DevDocumentStore } from '../providers/dev-document-store.ts';
import type { DocumentUpload, FileContent } from '../providers/documents.ts';
import { DeliveryError } from '../providers/types.ts';
import { startFakeProviders, type FakeProviders } from './fakes/provider-server.ts';

let fake: FakeProviders;
beforeAll(async () => {
  fake = await startFakeProviders({ cloudinary: { cloudName: 'carecircle', apiKey: 'key', apiSecret: 'secret' } });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  resetCircuits();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bytesOf = async (content: FileContent | undefined) =>
  content ? Buffer.from(await new Response(content.body).arrayBuffer()) : undefined;
const upload = (bytes: Buffer, id = 'u1'): DocumentUpload => ({
  uploadId: `upload-${id}`,
  publicId: `carecircle/circle/${id}`,
  filename: 'scan.pdf',
  contentType: 'application/pdf',
  totalBytes: bytes.length,
});

async function sendAll(
  store: { uploadChunk: CloudinaryDocumentStore['uploadChunk'] },
  u: DocumentUpload,
  bytes: Buffer,
  chunk: number,
) {
  const answers = [];
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    answers.push(await store.uploadChunk(u, offset, bytes.subarray(offset, offset + chunk)));
  }
  return answers;
}

describe('CloudinaryDocumentStore', () => {
  const store = () =>
    new CloudinaryDocumentStore(parseCloudinaryUrl(fake.cloudinary.cloudinaryUrl), {
      timeoutMs: 1000,
      breaker: { failures: 100, openMs: 1000 },
    });

  it('reads CLOUDINARY_URL as the SDK does, and refuses anything else', () => {
    expect(parseCloudinaryUrl('cloudinary://k%40y:s3cr%2Ft@demo?upload_prefix=http://127.0.0.1:9')).toEqual({
      cloudName: 'demo',
      apiKey: 'k@y',
      apiSecret: 's3cr/t',
      uploadPrefix: 'http://127.0.0.1:9',
    });
    expect(() => parseCloudinaryUrl('https://k:s@demo')).toThrow(/cloudinary:\/\//);
    expect(() => parseCloudinaryUrl('cloudinary://demo')).toThrow(/cloudinary:\/\//);
  });

  it('sends signed chunks with one upload id; the last one answers where the private file is', async () => {
    const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(2500)]);
    const answers = await sendAll(store(), upload(bytes), bytes, 1000);
    expect(answers.map((a) => a.done)).toEqual([false, false, true]);
    const asset = fake.cloudinary.uploads[0]!.resource;
    expect(answers[2]).toEqual({
      done: true,
      providerId: `${asset.resource_type}/carecircle/circle/u1`,
      format: 'pdf',
      deliveryType: 'authenticated',
    });
    expect(asset.type).toBe('authenticated');
    expect(fake.cloudinary.requests.every((r) => r.fields.type === 'authenticated')).toBe(true);
    expect(fake.cloudinary.requests.map((r) => [r.range, r.uploadId])).toEqual([
      [{ start: 0, end: 999, total: bytes.length }, 'upload-u1'],
      [{ start: 1000, end: 1999, total: bytes.length }, 'upload-u1'],
      [{ start: 2000, end: bytes.length - 1, total: bytes.length }, 'upload-u1'],
    ]);
    expect(sha(fake.cloudinary.uploads[0]!.content)).toBe(sha(bytes));
  });

  it('serves the file to nobody without a signed, unexpired download URL; the store reads it with one', async () => {
    const bytes = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(500)]);
    const [answer] = await sendAll(store(), upload(bytes, 'img'), bytes, 1000);
    if (!answer?.done) throw new Error('not done');
    const asset = fake.cloudinary.uploads[0]!.resource;
    // Its delivery URLs lead nowhere, and the public path does not serve it either.
    expect((await fetch(asset.secure_url)).status).toBe(404);
    expect((await fetch(asset.secure_url.replace(/\/authenticated\/s--[^/]+--\//, '/upload/'))).status).toBe(404);

    expect(sha((await bytesOf(await store().read(answer)))!)).toBe(sha(bytes));
    const download = fake.cloudinary.requests.at(-1)!;
    expect(download.path).toMatch(/^\/v1_1\/carecircle\/image\/download\?/);
    const expiresAt = Number(download.fields.expires_at);
    expect(expiresAt - Date.now() / 1000).toBeGreaterThan(0);
    expect(expiresAt - Date.now() / 1000).toBeLessThanOrEqual(60);

    // The fake checks both: a URL past its expiry, or signed with another secret, is refused.
    const { v2: cloudinary } = await import('cloudinary');
    const urlFor = (secret: string, expires: number) =>
      cloudinary.utils.private_download_url('carecircle/circle/img', 'png', {
        cloud_name: 'carecircle',
        api_key: 'key',
        api_secret: secret,
        upload_prefix: fake.cloudinary.uploadPrefix,
        resource_type: 'image',
        type: 'authenticated',
        expires_at: expires,
      } as Parameters<typeof cloudinary.utils.private_download_url>[2]);
    const now = Math.floor(Date.now() / 1000);
    expect((await fetch(urlFor('secret', now + 30))).status).toBe(200);
    expect((await fetch(urlFor('secret', now - 1))).status).toBe(401);
    expect((await fetch(urlFor('another-secret', now + 30))).status).toBe(401);
    const tampered = new URL(urlFor('secret', now + 30));
    tampered.searchParams.set('expires_at', String(now + 3600));
    expect((await fetch(tampered)).status).toBe(401);

    expect(await store().read({ ...answer, providerId: 'image/carecircle/circle/none' })).toBeUndefined();
  });

  it('reads a file stored as a public asset before documents were private (delivery type upload)', async () => {
    const { v2: cloudinary } = await import('cloudinary');
    const bytes = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(300)]);
    const legacy = await new Promise<{ public_id: string; resource_type: string; format: string; type: string }>(
      (resolve, reject) =>
        cloudinary.uploader
          .upload_stream(
            {
              cloud_name: 'carecircle',
              api_key: 'key',
              api_secret: 'secret',
              upload_prefix: fake.cloudinary.uploadPrefix,
              agent: new http.Agent(),
              resource_type: 'auto',
              public_id: 'carecircle/circle/legacy',
              disable_promises: true,
            },
            (err, result) => (err || !result ? reject(err) : resolve(result as never)),
          )
          .end(bytes),
    );
    expect(legacy.type).toBe('upload');
    // As the migration records such a row.
    const file = {
      providerId: `${legacy.resource_type}/${legacy.public_id}`,
      format: legacy.format,
      deliveryType: 'upload',
    };
    expect(sha((await bytesOf(await store().read(file)))!)).toBe(sha(bytes));
    expect(await store().read({ ...file, deliveryType: 'authenticated' })).toBeUndefined();
  });

  it('calls 5xx, 420/429, timeouts and dropped connections transient; other 4xx permanent', async () => {
    const bytes = randomBytes(100);
    const outcome = async () => {
      try {
        await store().uploadChunk(upload(bytes), 0, bytes);
        return 'ok';
      } catch (err) {
        expect(err).toBeInstanceOf(DeliveryError);
        return `${(err as DeliveryError).permanent ? 'permanent' : 'transient'} ${(err as DeliveryError).code}`;
      }
    };
    const cases: [Parameters<FakeProviders['cloudinary']['failNext']>[0], string][] = [
      [500, 'transient 500'],
      [503, 'transient 503'],
      [429, 'transient 429'],
      [420, 'transient 420'],
      [{ kind: 'hang' }, 'transient 499'],
      [{ kind: 'reset' }, 'transient network'],
      [400, 'permanent 400'],
      [401, 'permanent 401'],
      [404, 'permanent 404'],
    ];
    for (const [fault, expected] of cases) {
      fake.cloudinary.failNext(fault);
      expect(await outcome(), JSON.stringify(fault)).toBe(expected);
    }
    expect(await outcome()).toBe('ok');
  });
});

describe('DevDocumentStore', () => {
  it('writes chunks at their offsets and completes the file once, even if the last chunk comes again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-docs-'));
    try {
      const store = new DevDocumentStore(dir);
      const bytes = randomBytes(2500);
      const u = upload(bytes, 'dev');
      const answers = await sendAll(store, u, bytes, 1000);
      expect(answers.map((a) => a.done)).toEqual([false, false, true]);
      const last = answers[2]!;
      expect(last).toEqual({ done: true, providerId: 'carecircle/circle/dev' });
      const file = path.join(dir, 'carecircle', 'circle', 'dev');
      expect(sha(fs.readFileSync(file))).toBe(sha(bytes));
      expect(fs.statSync(file).mode & 0o077).toBe(0); // its owner's only
      // The completing chunk again (its answer was lost): same file, same answer.
      expect(await store.uploadChunk(u, 2000, bytes.subarray(2000))).toEqual(last);
      expect(fs.readdirSync(path.join(dir, 'uploads'))).toEqual([]);
      // Read back through the store only; nothing outside its folder.
      const content = await store.read({ providerId: 'carecircle/circle/dev' });
      expect(content?.bytes).toBe(bytes.length);
      expect(sha((await bytesOf(content))!)).toBe(sha(bytes));
      expect(await store.read({ providerId: 'carecircle/circle/missing' })).toBeUndefined();
      expect(await store.read({ providerId: '../../etc/passwd' })).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
