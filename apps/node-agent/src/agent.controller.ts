import type { Agent } from '@floe/agent-core';
import {
  type AgentEnsureRequest,
  AgentPatterns,
  type AgentPullEvent,
  type AgentPullRequest,
  type AgentRetireRequest,
  type DepsBuildRequest,
  type PoolTarget,
} from '@floe/contracts';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { FloeRpcExceptionFilter } from './rpc-exception.filter.js';
import { AGENT } from './tokens.js';

@Controller()
@UseFilters(FloeRpcExceptionFilter)
export class AgentController {
  constructor(@Inject(AGENT) private readonly agent: Agent) {}

  @MessagePattern(AgentPatterns.ensure)
  ensure(@Payload() p: AgentEnsureRequest) {
    return this.agent.ensure(p.version, p.instances, p.floor);
  }

  @MessagePattern(AgentPatterns.retire)
  retire(@Payload() p: AgentRetireRequest) {
    const scaleIn = p.keep === undefined ? undefined : { keep: p.keep, idleMs: p.idleMs ?? 0 };
    return this.agent.retire(p.namespace, p.name, p.keepVersion, scaleIn);
  }

  @MessagePattern(AgentPatterns.status)
  status() {
    return this.agent.info();
  }

  @MessagePattern(AgentPatterns.target)
  target(@Payload() t: PoolTarget) {
    return this.agent.setTarget(t);
  }

  @MessagePattern(AgentPatterns.logs)
  async logs(@Payload() p: { namespace: string; name: string; tail?: number; since?: string }) {
    return { lines: await this.agent.readLogs(p.namespace, p.name, p) };
  }

  /** Streams the pull's events over the RPC connection, `done` last. */
  @MessagePattern(AgentPatterns.pull)
  pull(@Payload() p: AgentPullRequest) {
    return new Observable<AgentPullEvent>((sub) => {
      this.agent
        .pullImage(p, (e) => sub.next(e))
        .then(
          () => sub.complete(),
          (err) => sub.error(err),
        );
    });
  }

  @MessagePattern(AgentPatterns.depsBuild)
  depsBuild(@Payload() p: DepsBuildRequest) {
    return this.agent.buildDeps(p);
  }

  @MessagePattern(AgentPatterns.health)
  health() {
    return { status: 'ok', id: this.agent.settings.id };
  }
}
