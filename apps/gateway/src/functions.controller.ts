import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { BasicAuth } from './basic-auth.guard.js';
import { FunctionsService } from './functions.service.js';

/** OpenFaaS's /system/functions and /system/function/{name}. */
@Controller('system')
@BasicAuth()
export class FunctionsController {
  constructor(@Inject(FunctionsService) private readonly functions: FunctionsService) {}

  /**
   * OpenFaaS's unpaged list; with `?limit=` (and `cursor=`), one page of it, still a plain
   * array as faas-cli expects, with the next page's cursor in `X-Next-Cursor`.
   */
  @Get('functions')
  async list(
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('namespace') namespace?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ) {
    if (limit === undefined && cursor === undefined) return this.functions.list(namespace);
    const page = await this.functions.page(namespace, limit, cursor);
    if (page.nextCursor !== undefined) reply.header('x-next-cursor', page.nextCursor);
    return page.functions;
  }

  @Post('functions')
  @HttpCode(202)
  deploy(@Body() body: unknown) {
    return this.functions.deploy(body);
  }

  @Put('functions')
  @HttpCode(202)
  update(@Body() body: unknown) {
    return this.functions.update(body);
  }

  @Delete('functions')
  @HttpCode(202)
  remove(@Body() body: unknown, @Query('namespace') namespace?: string) {
    return this.functions.remove(body, namespace);
  }

  @Get('function/:name')
  get(@Param('name') name: string, @Query('namespace') namespace?: string) {
    return this.functions.get(name, namespace);
  }

  @Post('scale-function/:name')
  @HttpCode(202)
  scale(@Param('name') name: string, @Body() body: unknown, @Query('namespace') namespace?: string) {
    return this.functions.scale(name, body, namespace);
  }
}
