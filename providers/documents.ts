/**
 * Where uploaded documents go: Cloudinary when CLOUDINARY_URL is set, otherwise a development
 * store on the local disk (as the dev outbox stands in for push and email). Both take the file in
 * chunks at explicit offsets, so an interrupted upload resumes where it stopped.
 *
 * Health documents are private: a store keeps them where no public address reaches them, and
 * hands them out only to the API (`read`), which checks who asks first. Nothing here produces a
 * URL that outlives the request.
 */
import path from 'node:path';
import type { Config } from '../shared/config.ts';
import type { CircuitBreakerOptions } from './circuit-breaker.ts';
import { CloudinaryDocumentStore, parseCloudinaryUrl } from './cloudinary.ts';
import { DevDocumentStore } from './dev-document-store.ts';

export interface DocumentUpload {
  /** Identifies one upload across chunks and retries (Cloudinary's X-Unique-Upload-Id). */
  uploadId: string;
  /** Where the file lands at the provider. */
  publicId: string;
  filename: string;
  contentType: string;
  totalBytes: number;
}

/** Where a stored file is, as the store that holds it names it (the `documents` row keeps these). */
export interface StoredFile {
  /** The store's id for the file: Cloudinary `<resource_type>/<public_id>`, the dev store's path. */
  providerId: string;
  /** Cloudinary's `format` (`pdf`, `png`; none for raw files). */
  format?: string | null;
  /** Cloudinary's delivery type: `authenticated` (private); `upload` only for files stored public earlier. */
  deliveryType?: string | null;
}

export type ChunkResult =
  /** More chunks are expected. */
  | { done: false }
  /** This chunk completed the file. */
  | ({ done: true } & StoredFile);

/** A stored file's bytes, as a stream (documents reach 20 MiB). */
export interface FileContent {
  body: ReadableStream<Uint8Array>;
  /** When the store says. */
  bytes?: number;
}

export interface DocumentStore {
  readonly name: string;
  /**
   * Sends bytes [start, start + chunk.length) of the upload. Sending a chunk again overwrites it.
   * Throws DeliveryError (providers/types.ts), permanent or transient, as the other providers do.
   */
  uploadChunk(upload: DocumentUpload, start: number, chunk: Buffer): Promise<ChunkResult>;
  /** The bytes of a file this store holds; undefined when it has no such file. */
  read(file: StoredFile): Promise<FileContent | undefined>;
}

export function createDocumentStore(config: Config): DocumentStore {
  if (config.CLOUDINARY_URL) {
    // Behind the same circuit breaker settings as the other providers (providers/circuit-breaker.ts).
    const breaker: CircuitBreakerOptions = {
      failures: config.CIRCUIT_BREAKER_FAILURES,
      openMs: config.CIRCUIT_BREAKER_OPEN_MS,
    };
    return new CloudinaryDocumentStore(parseCloudinaryUrl(config.CLOUDINARY_URL), { breaker });
  }
  return new DevDocumentStore(config.DEV_DOCUMENT_STORE_DIR ?? path.join(config.DATA_DIR, 'dev-documents'));
}
