import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError } from '@floe/contracts';
import {
  formatReference,
  parseReference,
  pinReference,
  pushImage,
  RegistryClient,
  readImageArchive,
} from '@floe/overlay-snapshots';
import { Inject, Injectable, PayloadTooLargeException } from '@nestjs/common';
import type { GatewayConfig } from './config.js';
import { ImageRefs } from './image-refs.js';
import { GATEWAY_CONFIG } from './tokens.js';

/** What POST /floe/images answers; deploy with `image: ref` afterwards. */
export interface ImageUpload {
  ref: string;
  /** Absolute path of the saved tar; agents on this host import from it. */
  archive: string;
  sha256: string;
  bytes: number;
  /** Where it was pushed (FLOE_REGISTRY), pinned: what agents on any host pull. */
  pinned?: string;
}

/** `[host[:port]/]path[:tag]`, docker's reference grammar without digests. */
const REF_RE =
  /^([a-z0-9.-]+(:\d+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;

/**
 * Saves an uploaded docker-save or OCI tar to `<stateDir>/gateway/uploads/<sha256>.tar`,
 * hashing as it streams: the body is never held in memory. It is written under a temporary
 * name and renamed once complete, so a reader never sees half an archive.
 */
@Injectable()
export class ImageUploadService {
  readonly dir: string;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(ImageRefs) private readonly refs: ImageRefs,
  ) {
    this.dir = refs.uploadsDir;
  }

  async save(
    ref: string | undefined,
    body: unknown,
    contentLength: string | undefined,
  ): Promise<ImageUpload> {
    if (!ref || !REF_RE.test(ref))
      throw new InvalidArgumentError('ref', `expected name:tag, got '${ref ?? ''}'`);
    const limit = this.config.maxImageBytes;
    if (contentLength !== undefined && Number(contentLength) > limit) throw tooLarge(limit);
    if (!isReadable(body))
      throw new InvalidArgumentError('body', 'expected the image tar as the request body');
    await mkdir(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.upload-${randomUUID()}.tmp`);
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > limit) return done(tooLarge(limit));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(tmp, { mode: 0o644 }));
      if (bytes === 0) throw new InvalidArgumentError('body', 'empty: expected a docker-save or OCI tar');
      const sha256 = hash.digest('hex');
      const archive = path.join(this.dir, `${sha256}.tar`);
      await rename(tmp, archive);
      const pinned = await this.push(ref, archive);
      await this.refs.set(ref, archive, pinned);
      return { ref, archive, sha256, bytes, ...(pinned ? { pinned } : {}) };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** With FLOE_REGISTRY: push the upload there so an agent on any host can pull it. */
  private async push(ref: string, archive: string): Promise<string | undefined> {
    const reg = this.config.registry;
    if (!reg?.uploadRegistry) return undefined;
    const local = parseReference(ref);
    const target = parseReference(
      `${reg.uploadRegistry}/${local.repository.replace(/^library\//, '')}:${local.tag}`,
    );
    const client = new RegistryClient(reg);
    try {
      const digest = await pushImage(client, target, await readImageArchive(archive, ref));
      return formatReference(pinReference(target, digest));
    } finally {
      client.close();
    }
  }
}

function tooLarge(limit: number): PayloadTooLargeException {
  return new PayloadTooLargeException(`image tar exceeds FLOE_MAX_IMAGE_BYTES (${limit} bytes)`);
}

function isReadable(v: unknown): v is NodeJS.ReadableStream {
  return typeof v === 'object' && v !== null && typeof (v as NodeJS.ReadableStream).pipe === 'function';
}
