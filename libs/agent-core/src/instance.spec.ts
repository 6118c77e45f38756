import { describe, expect, it } from 'vitest';
import { Instance, type InstanceBackend } from './instance.js';
import type { InstanceChannel } from './instance-channel.js';

const instance = () => new Instance('i', 'node', {} as InstanceBackend, {} as InstanceChannel, 0);

describe('Instance.serialize', () => {
  it('runs a step at once when nothing is in progress, else after the steps before it', async () => {
    const inst = instance();
    const order: string[] = [];
    let release!: () => void;
    const first = inst.serialize(async () => {
      order.push('first starts');
      await new Promise<void>((r) => {
        release = r;
      });
      order.push('first ends');
    });
    expect(order).toEqual(['first starts']); // started within the call, no microtask later
    expect(inst.settled).toBe(false);
    const second = inst.serialize(async () => {
      order.push('second');
    });
    await Promise.resolve();
    expect(order).toEqual(['first starts']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first starts', 'first ends', 'second']);
    await Promise.resolve();
    expect(inst.settled).toBe(true);
  });

  it('keeps going after a step fails, even one that throws before its first await', async () => {
    const inst = instance();
    await expect(inst.serialize(async () => Promise.reject(new Error('freeze failed')))).rejects.toThrow();
    const sync = inst.serialize((() => {
      throw new Error('thrown at once');
    }) as () => Promise<void>);
    await expect(sync).rejects.toThrow('thrown at once');
    await Promise.resolve();
    expect(inst.settled).toBe(true);
    expect(await inst.serialize(async () => 'next')).toBe('next');
  });
});
