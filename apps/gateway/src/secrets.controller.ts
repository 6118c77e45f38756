import { Body, Controller, Delete, Get, HttpCode, Inject, Post, Put, Query } from '@nestjs/common';
import { BasicAuth } from './basic-auth.guard.js';
import { SecretsService } from './secrets.service.js';

/** OpenFaaS's /system/secrets: list (names only), create 201, update 202, delete 202. */
@Controller('system/secrets')
@BasicAuth()
export class SecretsController {
  constructor(@Inject(SecretsService) private readonly secrets: SecretsService) {}

  @Get()
  list(@Query('namespace') namespace?: string) {
    return this.secrets.list(namespace);
  }

  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Query('namespace') namespace?: string) {
    return this.secrets.put(body, 'create', namespace);
  }

  @Put()
  @HttpCode(202)
  update(@Body() body: unknown, @Query('namespace') namespace?: string) {
    return this.secrets.put(body, 'update', namespace);
  }

  @Delete()
  @HttpCode(202)
  remove(@Body() body: unknown, @Query('namespace') namespace?: string) {
    return this.secrets.remove(body, namespace);
  }
}
