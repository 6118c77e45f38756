import { Controller, HttpCode, Inject, Post, Query, Req } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { BasicAuth } from './basic-auth.guard.js';
import { RAW_STREAM } from './body-parsers.js';
import { ImageUploadService } from './image-upload.service.js';

/** POST /floe/images?ref=name:tag with a docker-save or OCI tar body, streamed to disk. */
@Controller('floe/images')
@BasicAuth()
export class ImagesController {
  constructor(@Inject(ImageUploadService) private readonly uploads: ImageUploadService) {}

  @Post()
  @HttpCode(201)
  @RouteConfig({ [RAW_STREAM]: true })
  upload(@Query('ref') ref: string | undefined, @Req() req: FastifyRequest) {
    return this.uploads.save(ref, req.body, req.headers['content-length']);
  }
}
