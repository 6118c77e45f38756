import type { Agent } from '@floe/agent-core';
import { type DynamicModule, Module } from '@nestjs/common';
import { AgentController } from './agent.controller.js';
import { HttpController } from './http.controller.js';
import { AGENT } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(agent: Agent): DynamicModule {
    return {
      module: AppModule,
      controllers: [AgentController, HttpController],
      providers: [{ provide: AGENT, useValue: agent }],
    };
  }
}
