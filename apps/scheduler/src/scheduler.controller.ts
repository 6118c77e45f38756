import type {
  BuildLogRequest,
  DeadLettersRequest,
  EnqueueRequest,
  FunctionPageRequest,
  FunctionRef,
  ImagePullEvent,
  ImagePullRequest,
  LogsReadRequest,
  NamespaceRef,
  RollbackRequest,
  ScaleRequest,
  SecretPutRequest,
  SecretRemoveRequest,
} from '@floe/contracts';
import { SchedulerPatterns } from '@floe/contracts';
import type { Scheduler } from '@floe/scheduler-core';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { RpcErrorFilter } from './rpc-exception.filter.js';
import { SCHEDULER } from './tokens.js';

/** RPC surface of the scheduler (SchedulerPatterns); each handler is one call into the core. */
@Controller()
@UseFilters(RpcErrorFilter)
export class SchedulerController {
  constructor(@Inject(SCHEDULER) private readonly s: Scheduler) {}

  /** Streams the pull's events back over the RPC connection, `done` last. */
  @MessagePattern(SchedulerPatterns.imagePull)
  imagePull(@Payload() req: ImagePullRequest) {
    return new Observable<ImagePullEvent>((sub) => {
      this.s
        .pullImage(req, (e) => sub.next(e))
        .then(
          () => sub.complete(),
          (err) => sub.error(err),
        );
    });
  }

  @MessagePattern(SchedulerPatterns.info)
  info() {
    return this.s.info();
  }

  @MessagePattern(SchedulerPatterns.deploy)
  deploy(@Payload() dep: unknown) {
    return this.s.deploy(dep, 'create');
  }

  @MessagePattern(SchedulerPatterns.update)
  update(@Payload() dep: unknown) {
    return this.s.deploy(dep, 'update');
  }

  @MessagePattern(SchedulerPatterns.remove)
  remove(@Payload() ref: FunctionRef) {
    return this.s.remove(ref);
  }

  @MessagePattern(SchedulerPatterns.get)
  get(@Payload() ref: FunctionRef) {
    return this.s.get(ref);
  }

  @MessagePattern(SchedulerPatterns.list)
  list(@Payload() ref: NamespaceRef) {
    return this.s.list(ref);
  }

  @MessagePattern(SchedulerPatterns.page)
  page(@Payload() req: FunctionPageRequest) {
    return this.s.page(req);
  }

  @MessagePattern(SchedulerPatterns.scale)
  scale(@Payload() req: ScaleRequest) {
    return this.s.scale(req);
  }

  @MessagePattern(SchedulerPatterns.versions)
  versions(@Payload() ref: FunctionRef) {
    return this.s.versions(ref);
  }

  @MessagePattern(SchedulerPatterns.rollback)
  rollback(@Payload() req: RollbackRequest) {
    return this.s.rollback(req);
  }

  @MessagePattern(SchedulerPatterns.namespaces)
  namespaces() {
    return this.s.namespaces();
  }

  @MessagePattern(SchedulerPatterns.secretList)
  secretList(@Payload() ref: NamespaceRef) {
    return this.s.secretList(ref);
  }

  @MessagePattern(SchedulerPatterns.secretPut)
  secretPut(@Payload() req: SecretPutRequest) {
    return this.s.secretPut(req);
  }

  @MessagePattern(SchedulerPatterns.secretRemove)
  secretRemove(@Payload() ref: SecretRemoveRequest) {
    return this.s.secretRemove(ref);
  }

  @MessagePattern(SchedulerPatterns.secretValues)
  secretValues(@Payload() req: { namespace: string; names: string[] }) {
    return this.s.secretValues(req);
  }

  @MessagePattern(SchedulerPatterns.enqueue)
  enqueue(@Payload() req: EnqueueRequest) {
    return this.s.enqueue(req);
  }

  @MessagePattern(SchedulerPatterns.deadLetters)
  deadLetters(@Payload() req: DeadLettersRequest) {
    return this.s.deadLetters(req);
  }

  @MessagePattern(SchedulerPatterns.buildLog)
  buildLog(@Payload() req: BuildLogRequest) {
    return this.s.buildLog(req);
  }

  @MessagePattern(SchedulerPatterns.logs)
  logs(@Payload() req: LogsReadRequest) {
    return this.s.logs(req);
  }

  @MessagePattern(SchedulerPatterns.agents)
  agents() {
    return this.s.agents();
  }
}
