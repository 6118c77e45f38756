import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FunctionVersion } from '@floe/contracts';
import type { ChannelServer } from '../channel-server.js';
import type { ExitReason, InstanceBackend } from '../instance.js';
import { bootstrapDir } from '../native-build.js';
import type { Launcher, LaunchOptions } from '../pool.js';

/**
 * A Launcher whose "containers" are plain host processes, frozen with SIGSTOP, with no cgroup
 * (memoryUsage is zero, reclaim and restore only count): it lets the pool's logic run against
 * real runtimes and sockets quickly. What only real containers show (cgroup freezing, memory
 * caps, reclaim, OOM, eviction leaving nothing behind) is specified on the real launcher in
 * container-launcher.int.spec.ts.
 */
export class ProcessLauncher implements Launcher {
  readonly children = new Map<string, ChildProcess>();
  readonly counts = { launch: 0, freeze: 0, thaw: 0, destroy: 0, reclaim: 0, restore: 0 };

  constructor(
    private readonly server: ChannelServer,
    private readonly dir: string,
    private readonly code: Record<string, Record<string, string>>,
  ) {}

  async launch(opts: LaunchOptions) {
    this.counts.launch++;
    const child = spawn(process.execPath, [path.join(bootstrapDir, 'node-bootstrap.cjs')], {
      env: { PATH: '/usr/bin:/bin', FLOE_AGENT_SOCK: this.server.socketPath, FLOE_INSTANCE_TOKEN: opts.id },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.children.set(opts.id, child);
    const exited = new Promise<ExitReason>((resolve) =>
      child.once('exit', (code, signal) =>
        resolve(signal ? { reason: 'signaled', signal } : { reason: 'exited', code: code ?? 0 }),
      ),
    );
    const counts = this.counts;
    const backend: InstanceBackend = {
      id: opts.id,
      exited,
      async freeze() {
        counts.freeze++;
        child.kill('SIGSTOP');
      },
      async thaw() {
        counts.thaw++;
        child.kill('SIGCONT');
      },
      async destroy() {
        counts.destroy++;
        child.kill('SIGKILL');
        await exited;
      },
      async memoryUsage() {
        return { bytes: 0, peakBytes: 0, nrThrottled: 0, oomKills: 0 };
      },
      async setMemoryLimit() {},
      async reclaim() {
        counts.reclaim++;
      },
      async restore() {
        counts.restore++;
      },
    };
    const channel = await this.server.expect(opts.id, 10_000);
    return { backend, channel };
  }

  async bind(instanceId: string, version: FunctionVersion) {
    const codeDir = path.join(this.dir, instanceId);
    mkdirSync(codeDir, { recursive: true });
    for (const [file, text] of Object.entries(this.code[version.name] ?? {}))
      writeFileSync(path.join(codeDir, file), text);
    return { handler: version.handler ?? 'index.js', env: version.env, codeDir };
  }

  async release() {}
}
