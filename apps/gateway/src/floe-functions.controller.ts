import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { BasicAuth } from './basic-auth.guard.js';
import { FunctionsService } from './functions.service.js';
import { readMultipartDeployment } from './multipart-deployment.js';

/** The client's id for this deploy's build log (`GET /floe/functions/builds/:id/log`). */
function buildId(req: FastifyRequest): string | undefined {
  const h = req.headers['x-floe-build-id'];
  return typeof h === 'string' && h ? h : undefined;
}

/** Floe's additions for functions: multipart deploy and update with a code file, versions, rollback. */
@Controller('floe/functions')
@BasicAuth()
export class FloeFunctionsController {
  constructor(@Inject(FunctionsService) private readonly functions: FunctionsService) {}

  @Post()
  @HttpCode(202)
  async deploy(@Req() req: FastifyRequest) {
    const body = req.isMultipart() ? await readMultipartDeployment(req) : req.body;
    return this.functions.deploy(body, buildId(req));
  }

  /** Paged list: `{ functions, nextCursor? }`, `limit` 1–1000 (default 100), by name. */
  @Get()
  page(
    @Query('namespace') namespace?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ) {
    return this.functions.page(namespace, limit, cursor);
  }

  /** A new version of an existing function, with its code as a file part (`floe deploy` again). */
  @Put()
  @HttpCode(202)
  async update(@Req() req: FastifyRequest) {
    const body = req.isMultipart() ? await readMultipartDeployment(req) : req.body;
    return this.functions.update(body, buildId(req));
  }

  /**
   * A deploy's dependencies install output from line `after` on, while it runs and for ten
   * minutes after: the CLI sends `X-Floe-Build-Id` with the deploy and follows this.
   */
  @Get('builds/:id/log')
  buildLog(@Param('id') id: string, @Query('after') after?: string) {
    return this.functions.buildLog(id, after);
  }

  @Get(':name/versions')
  versions(@Param('name') name: string, @Query('namespace') namespace?: string) {
    return this.functions.versions(name, namespace);
  }

  @Post(':name/rollback')
  @HttpCode(202)
  rollback(@Param('name') name: string, @Body() body: unknown, @Query('namespace') namespace?: string) {
    return this.functions.rollback(name, body, namespace);
  }
}
