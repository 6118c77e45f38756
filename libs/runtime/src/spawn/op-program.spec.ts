import { describe, expect, it } from 'vitest';
import { Op, OpProgram } from './op-program.js';

const word = (b: Buffer, at: number) => b.readBigUInt64LE(at);
const cstrAt = (b: Buffer, off: number) => b.toString('utf8', off, b.indexOf(0, off));

describe('OpProgram.encode', () => {
  it('lays out header, records and 8-byte aligned data', () => {
    const bpf = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const p = new OpProgram()
      .add(Op.MOUNT, [{ str: 'ü€' }, null, -1, 2n ** 63n, 2 ** 40], { syscall: 'mount' }, 1)
      .add(Op.SECCOMP, [{ bytes: bpf }, 1], { syscall: 'seccomp' })
      .add(Op.EXECVEAT, [3, null, { strArray: ['a', 'bc', ''] }, { strArray: [] }], { syscall: 'execveat' });
    const b = p.encode();
    expect(b.readUInt32LE(0)).toBe(0x464c4f45);
    expect(b.readUInt32LE(4)).toBe(3);
    const rec = (i: number, j: number) => word(b, 16 + i * 64 + j * 8);
    expect(rec(0, 0)).toBe(BigInt(Op.MOUNT) + (1n << 32n));
    expect(cstrAt(b, Number(rec(0, 1)))).toBe('ü€');
    expect(rec(0, 2)).toBe(0n);
    expect(rec(0, 3)).toBe(2n ** 64n - 1n);
    expect(rec(0, 4)).toBe(2n ** 63n);
    expect(rec(0, 5)).toBe(2n ** 40n);
    expect(rec(0, 6)).toBe(0n);
    const bpfOff = Number(rec(1, 1));
    expect(bpfOff % 8).toBe(0);
    expect(b.subarray(bpfOff, bpfOff + 8).equals(bpf)).toBe(true);
    const argv = Number(rec(2, 3));
    expect(argv % 8).toBe(0);
    expect([0, 1, 2].map((i) => cstrAt(b, Number(word(b, argv + i * 8))))).toEqual(['a', 'bc', '']);
    expect(word(b, argv + 24)).toBe(0n);
    expect(word(b, Number(rec(2, 4)))).toBe(0n);
    expect(b.length).toBe(Number(rec(2, 4)) + 8);
  });

  it('encodes the same bytes twice', () => {
    const p = new OpProgram().add(Op.CHDIR, [{ str: '/x' }], { syscall: 'chdir' });
    expect(p.encode().equals(p.encode())).toBe(true);
  });
});
