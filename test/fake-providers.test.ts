/**
 * The fake provider server itself, driven by the real SDKs: Cloudinary uploads (simple, chunked,
 * resumed chunk by chunk with the same upload id), its faults and signature check, Resend on the
 * same port, latency, the request log, and the HTTP controls used in standalone mode.
 */
import http from 'node:http';
import { v2 as cloudinary } from 'cloudinary';
import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeProviders, type FakeProviders } from './fakes/provider-server.ts';

const CLOUD = 'carecircle-test';
const KEY = '111122223333444';
const SECRET = 'fake-secret';
let fake: FakeProviders;
// The SDK picked node:https when it was loaded; an http agent lets it talk to the local fake.
const agent = new http.Agent();

beforeAll(async () => {
  fake = await startFakeProviders({
    cloudinary: { cloudName: CLOUD, apiKey: KEY, apiSecret: SECRET },
    resend: { apiKey: 're_key' },
  });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  cloudinary.config({
    cloud_name: CLOUD,
    api_key: KEY,
    api_secret: SECRET,
    upload_prefix: fake.cloudinary.uploadPrefix,
  });
});

type Uploaded = { public_id: string; bytes: number; secure_url: string; resource_type: string; format: string };
const dataUri = (text: string) => `data:text/plain;base64,${Buffer.from(text).toString('base64')}`;

function uploadChunked(content: Buffer, options: Record<string, unknown>): Promise<Uploaded> {
  return new Promise((resolve, reject) => {
    const stream = cloudinary.uploader.upload_chunked_stream({ agent, ...options }, (err, result) =>
      err ? reject(err) : resolve(result as unknown as Uploaded),
    );
    stream.end(content);
  });
}

/** One chunk by hand, as a resumable upload sends it: same upload id, explicit Content-Range. */
function uploadChunk(
  chunk: Buffer,
  uploadId: string,
  range: string,
  publicId: string,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const stream = cloudinary.uploader.upload_stream(
      { agent, resource_type: 'raw', public_id: publicId, x_unique_upload_id: uploadId, content_range: range } as never,
      (err, result) => (err ? reject(err) : resolve(result as unknown as Record<string, unknown>)),
    );
    stream.end(chunk);
  });
}

describe('Cloudinary upload API', () => {
  it('stores a simple upload and serves it at its secure_url', async () => {
    const result = (await cloudinary.uploader.upload(dataUri('care plan'), {
      agent,
      resource_type: 'auto',
      public_id: 'plans/ada',
    })) as unknown as Uploaded;
    expect(result).toMatchObject({ public_id: 'plans/ada', bytes: 9, resource_type: 'raw' });
    expect(fake.cloudinary.uploads).toHaveLength(1);
    expect(await (await fetch(result.secure_url)).text()).toBe('care plan');
  });

  it('detects images and PDFs for resource_type auto', async () => {
    const pdf = `data:application/pdf;base64,${Buffer.from('%PDF-1.7 test').toString('base64')}`;
    const result = (await cloudinary.uploader.upload(pdf, { agent, resource_type: 'auto' })) as unknown as Uploaded;
    expect(result).toMatchObject({ resource_type: 'image', format: 'pdf' });
  });

  it('assembles a chunked upload (X-Unique-Upload-Id, Content-Range) into one asset', async () => {
    const content = Buffer.alloc(2_500_000, 7);
    content.write('first', 0);
    content.write('last', content.length - 4);
    const result = await uploadChunked(content, { chunk_size: 1_000_000, resource_type: 'raw', public_id: 'scan.bin' });
    expect(result).toMatchObject({ public_id: 'scan.bin', bytes: 2_500_000 });
    const ranges = fake.cloudinary.requests.map((r) => r.range);
    expect(ranges).toEqual([
      { start: 0, end: 999_999, total: -1 },
      { start: 1_000_000, end: 1_999_999, total: -1 },
      { start: 2_000_000, end: 2_499_999, total: 2_500_000 },
    ]);
    expect(new Set(fake.cloudinary.requests.map((r) => r.uploadId)).size).toBe(1);
    expect(fake.cloudinary.uploads).toHaveLength(1);
    expect(fake.cloudinary.uploads[0]!.content.equals(content)).toBe(true);
  });

  it('resumes: chunks re-sent after a failure overwrite, and the file is stored once', async () => {
    const content = Buffer.from('0123456789abcdefghij');
    const partial = await uploadChunk(content.subarray(0, 10), 'upload-1', 'bytes 0-9/-1', 'resumed.txt');
    expect(partial).toMatchObject({ done: false, bytes: 10 });
    expect(fake.cloudinary.pendingUploads()).toEqual([{ uploadId: 'upload-1', bytesReceived: 10, total: null }]);
    // The worker crashed; its replacement re-sends the last chunk it was not sure about, then the rest.
    await uploadChunk(content.subarray(0, 10), 'upload-1', 'bytes 0-9/-1', 'resumed.txt');
    fake.cloudinary.failNext({ kind: 'reset', afterAccept: true }); // stored, but the answer is lost
    await expect(uploadChunk(content.subarray(10), 'upload-1', 'bytes 10-19/20', 'resumed.txt')).rejects.toBeDefined();
    const done = await uploadChunk(content.subarray(10), 'upload-1', 'bytes 10-19/20', 'resumed.txt');
    expect(done).toMatchObject({ public_id: 'resumed.txt', bytes: 20 });
    expect(fake.cloudinary.uploads).toHaveLength(1);
    expect(fake.cloudinary.uploads[0]!.content.toString()).toBe('0123456789abcdefghij');
  });

  it('fails as Cloudinary does: 429 with Retry-After, 5xx, 4xx, bad signature, unknown cloud', async () => {
    fake.cloudinary.failNext({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    await expect(cloudinary.uploader.upload(dataUri('x'), { agent })).rejects.toMatchObject({ http_code: 429 });
    fake.cloudinary.failNext(503);
    await expect(cloudinary.uploader.upload(dataUri('x'), { agent })).rejects.toMatchObject({
      http_code: 503,
      name: 'UnexpectedResponse',
    });
    fake.cloudinary.failNext({ kind: 'status', status: 400, message: 'Invalid image file' });
    await expect(cloudinary.uploader.upload(dataUri('x'), { agent })).rejects.toMatchObject({
      http_code: 400,
      message: 'Invalid image file',
    });
    await expect(
      cloudinary.uploader.upload(dataUri('x'), { agent, api_secret: 'wrong' } as never),
    ).rejects.toMatchObject({ http_code: 401, message: expect.stringContaining('Invalid Signature') });
    await expect(cloudinary.uploader.upload(dataUri('x'), { agent, cloud_name: 'other' })).rejects.toMatchObject({
      http_code: 401,
    });
    expect(fake.cloudinary.uploads).toHaveLength(0);
    expect(fake.requests.filter((r) => r.provider === 'cloudinary').map((r) => r.status)).toEqual([
      429, 503, 400, 401, 401,
    ]);
  });

  it('times out a hung request on the client side', async () => {
    fake.cloudinary.failNext({ kind: 'hang' });
    // The SDK rejects a timeout as `{ error }`, unlike HTTP errors.
    await expect(cloudinary.uploader.upload(dataUri('x'), { agent, timeout: 200 })).rejects.toMatchObject({
      error: { http_code: 499, name: 'TimeoutError' },
    });
  });
});

describe('the server as a whole', () => {
  it('serves Resend beside Cloudinary, adds latency, and logs every request', async () => {
    fake.setLatency(80);
    const resend = new Resend('re_key', { baseUrl: fake.resend.baseUrl });
    const started = performance.now();
    const sent = await resend.emails.send({ from: 'a@carecircle.test', to: 'b@example.com', subject: 's', text: 't' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(sent.data?.id).toEqual(expect.any(String));
    expect(fake.resend.sent).toHaveLength(1);
    expect(fake.requests).toEqual([expect.objectContaining({ provider: 'resend', method: 'POST', status: 200 })]);
  });

  it('gives the turn of a client that went away while queued to the next one in line', async () => {
    fake.setLatency(150);
    fake.setMaxConcurrent(1);
    const post = (key: string, signal?: AbortSignal) =>
      fetch(`${fake.resend.baseUrl}/emails`, {
        method: 'POST',
        headers: { authorization: 'Bearer re_key', 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ from: 'a@carecircle.test', to: 'b@example.com', subject: key, text: 't' }),
        ...(signal ? { signal } : {}),
      });
    const first = post('first');
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Queued behind the first, then its client dies (a worker SIGKILLed mid-burst).
    const gone = post('gone', AbortSignal.timeout(60)).catch((err: Error) => err.name);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = post('third', AbortSignal.timeout(2_000));
    expect((await first).status).toBe(200);
    expect(await gone).toBe('TimeoutError');
    expect((await third).status).toBe(200);
    expect(fake.resend.sent.map((e) => e.idempotencyKey)).toEqual(['first', 'third']);
    expect(fake.requests).toHaveLength(2);
    fake.setMaxConcurrent(undefined);
  });

  it('is controlled over HTTP in standalone mode', async () => {
    const control = (path: string, body?: unknown) =>
      fetch(`${fake.baseUrl}/__fake/${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      }).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(await control('faults', { provider: 'resend', fault: 500, times: 2 })).toEqual({ queued: 2 });
    const resend = new Resend('re_key', { baseUrl: fake.resend.baseUrl });
    const failed = await resend.emails.send({
      from: 'a@carecircle.test',
      to: 'b@example.com',
      subject: 's',
      text: 't',
    });
    expect(failed.error?.statusCode).toBe(500);
    expect(await control('state')).toMatchObject({ resend: { sent: 0, requests: 1 }, requests: 1 });
    expect((await control('requests?provider=resend')).items).toHaveLength(1);
    expect(await control('reset', {})).toEqual({ reset: true });
    expect(await control('state')).toMatchObject({ requests: 0 });
  });
});
