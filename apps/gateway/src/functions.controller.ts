import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { BasicAuth } from './basic-auth.guard.js';
import { FunctionsService } from './functions.service.js';

/** OpenFaaS's /system/functions and /system/function/{name}. */
@Controller('system')
@BasicAuth()
export class FunctionsController {
  constructor(@Inject(FunctionsService) private readonly functions: FunctionsService) {}

  @Get('functions')
  list(@Query('namespace') namespace?: string) {
    return this.functions.list(namespace);
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
