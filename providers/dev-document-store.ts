/**
 * The development document store: without CLOUDINARY_URL, "uploads" are written under a local
 * folder (DATA_DIR/dev-documents by default) chunk by chunk, exactly as they would go to Cloudinary:
 * a chunk is written at its offset into `<uploadId>.part`, and the chunk that completes the file
 * renames it to its public id. Private as on Cloudinary: files and folders only for their owner,
 * no URL; the API reads a file back for a member allowed to see it.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ChunkResult, DocumentStore, DocumentUpload, FileContent, StoredFile } from './documents.ts';

export class DevDocumentStore implements DocumentStore {
  readonly name = 'dev-document-store';

  constructor(readonly dir: string) {}

  async uploadChunk(upload: DocumentUpload, start: number, chunk: Buffer): Promise<ChunkResult> {
    const target = path.join(this.dir, ...upload.publicId.split('/'));
    const part = path.join(this.dir, 'uploads', `${upload.uploadId}.part`);
    if (start + chunk.length >= upload.totalBytes && (await exists(target))) {
      // The completing chunk again (a retry after the answer was lost): the file is already there.
      return { done: true, providerId: upload.publicId };
    }
    await mkdir(path.dirname(part), { recursive: true, mode: 0o700 });
    const file = await open(part, 'a+', 0o600).then(async (f) => {
      await f.close();
      return open(part, 'r+');
    });
    try {
      await file.write(chunk, 0, chunk.length, start);
      await file.sync();
    } finally {
      await file.close();
    }
    if ((await stat(part)).size < upload.totalBytes || start + chunk.length < upload.totalBytes) return { done: false };
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    await rename(part, target);
    return { done: true, providerId: upload.publicId };
  }

  async read(file: StoredFile): Promise<FileContent | undefined> {
    const target = path.resolve(this.dir, ...file.providerId.split('/'));
    if (!target.startsWith(path.resolve(this.dir) + path.sep)) return undefined;
    let bytes: number;
    try {
      bytes = (await stat(target)).size;
    } catch {
      return undefined;
    }
    return { body: Readable.toWeb(createReadStream(target)) as ReadableStream<Uint8Array>, bytes };
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
