import { type AgentInfo, SchedulerPatterns } from '@floe/contracts';
import { Body, Controller, Get, HttpCode, Inject, Post, Query, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BasicAuth } from './basic-auth.guard.js';
import { RAW_STREAM } from './body-parsers.js';
import { imageInventory } from './image-inventory.js';
import { ImagePullService } from './image-pull.service.js';
import { ImageRefs } from './image-refs.js';
import { ImageUploadService } from './image-upload.service.js';
import { SchedulerClient } from './scheduler.client.js';

/**
 * POST /floe/images?ref=name:tag with a docker-save or OCI tar body, streamed to disk;
 * POST /floe/images/pull `{"image"}`: agents pull it from its registry, progress as NDJSON;
 * GET /floe/images: every image, with its digest, size and the agents that have it.
 */
@Controller('floe/images')
@BasicAuth()
export class ImagesController {
  constructor(
    @Inject(ImageUploadService) private readonly uploads: ImageUploadService,
    @Inject(SchedulerClient) private readonly scheduler: SchedulerClient,
    @Inject(ImageRefs) private readonly refs: ImageRefs,
    @Inject(ImagePullService) private readonly pulls: ImagePullService,
  ) {}

  @Post('pull')
  pull(
    @Body() body: unknown,
    @Query('namespace') namespace: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.pulls.pull(body, namespace, reply);
  }

  @Get()
  async list() {
    const agents = (await this.scheduler.call<AgentInfo[]>(SchedulerPatterns.agents, {})) ?? [];
    return imageInventory(agents, this.refs.all());
  }

  @Post()
  @HttpCode(201)
  @RouteConfig({ [RAW_STREAM]: true })
  upload(@Query('ref') ref: string | undefined, @Req() req: FastifyRequest) {
    return this.uploads.save(ref, req.body, req.headers['content-length']);
  }
}
