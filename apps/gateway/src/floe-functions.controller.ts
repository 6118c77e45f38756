import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { BasicAuth } from './basic-auth.guard.js';
import { FunctionsService } from './functions.service.js';
import { readMultipartDeployment } from './multipart-deployment.js';

/** Floe's additions for functions: multipart deploy and update with a code file, versions, rollback. */
@Controller('floe/functions')
@BasicAuth()
export class FloeFunctionsController {
  constructor(@Inject(FunctionsService) private readonly functions: FunctionsService) {}

  @Post()
  @HttpCode(202)
  async deploy(@Req() req: FastifyRequest) {
    return this.functions.deploy(req.isMultipart() ? await readMultipartDeployment(req) : req.body);
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
    return this.functions.update(req.isMultipart() ? await readMultipartDeployment(req) : req.body);
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
