/**
 * The two document stores on their own: the Cloudinary adapter (the real SDK against the fake
 * Upload API, chunk by chunk, with its errors split into transient and permanent) and the
 * development store on the local disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetCircuits } from '../providers/circuit-breaker.ts';
import { CloudinaryDocumentStore, parseCloudinaryUrl } from '../providers/cloudinary.ts';
import { DevDocumentStore } from '../providers/dev-document-store.ts';
import type { DocumentUpload } from '../providers/documents.ts';
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

  it('sends signed chunks with one upload id; the last one answers the resource', async () => {
    const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(2500)]);
    const answers = await sendAll(store(), upload(bytes), bytes, 1000);
    expect(answers.map((a) => a.done)).toEqual([false, false, true]);
    const last = answers[2]!;
    expect(last.done && last.url).toBe(fake.cloudinary.uploads[0]!.resource.secure_url);
    expect(last.done && last.providerId).toBe(
      `${fake.cloudinary.uploads[0]!.resource.resource_type}/carecircle/circle/u1`,
    );
    expect(fake.cloudinary.requests.map((r) => [r.range, r.uploadId])).toEqual([
      [{ start: 0, end: 999, total: bytes.length }, 'upload-u1'],
      [{ start: 1000, end: 1999, total: bytes.length }, 'upload-u1'],
      [{ start: 2000, end: bytes.length - 1, total: bytes.length }, 'upload-u1'],
    ]);
    expect(sha(fake.cloudinary.uploads[0]!.content)).toBe(sha(bytes));
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
      if (!last.done) throw new Error('not done');
      const file = fileURLToPath(last.url);
      expect(file).toBe(path.join(dir, 'carecircle', 'circle', 'dev'));
      expect(sha(fs.readFileSync(file))).toBe(sha(bytes));
      // The completing chunk again (its answer was lost): same file, same URL.
      expect(await store.uploadChunk(u, 2000, bytes.subarray(2000))).toEqual(last);
      expect(fs.readdirSync(path.join(dir, 'uploads'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
