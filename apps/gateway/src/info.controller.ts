import { type SchedulerInfo, SchedulerPatterns } from '@floe/contracts';
import { Controller, Get, Inject } from '@nestjs/common';
import { BasicAuth } from './basic-auth.guard.js';
import { SchedulerClient } from './scheduler.client.js';

const VERSION = { release: '0.1.0', sha: 'dev', commit_message: '' };
const ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l' };

/** OpenFaaS's GET /system/info: provider and gateway versions, machine architecture. */
@Controller('system')
@BasicAuth()
export class InfoController {
  constructor(@Inject(SchedulerClient) private readonly scheduler: SchedulerClient) {}

  @Get('info')
  async info() {
    // Info stays answerable while the scheduler is away; only its own fields go missing.
    const s = await this.scheduler
      .call<SchedulerInfo>(SchedulerPatterns.info, {}, 2000)
      .catch(() => undefined);
    return {
      provider: {
        provider: 'floe',
        orchestration: s?.orchestration ?? 'floe',
        version: { ...VERSION, release: s?.version ?? VERSION.release, sha: s?.sha ?? VERSION.sha },
      },
      version: VERSION,
      arch: ARCH[process.arch] ?? process.arch,
    };
  }
}
