import { describe, expect, it } from 'vitest';
import { PeerQueue } from '../../src/transport/peer-queue.js';

const message = (size: number, droppable = false) => ({ bytes: new Uint8Array(size), droppable });

describe('PeerQueue', () => {
  it('accepts messages up to its message bound and drops the rest', () => {
    const queue = new PeerQueue(3, 1000);
    const results = [1, 2, 3, 4].map(() => queue.push(message(10)).accepted);
    expect(results).toEqual([true, true, true, false]);
    expect(queue.length).toBe(3);
    expect(queue.bytes).toBe(30);
  });

  it('accepts messages up to its byte bound and drops the rest', () => {
    const queue = new PeerQueue(100, 25);
    expect(queue.push(message(10)).accepted).toBe(true);
    expect(queue.push(message(10)).accepted).toBe(true);
    expect(queue.push(message(10)).accepted).toBe(false);
    expect(queue.bytes).toBe(20);
  });

  it('evicts queued heartbeats, oldest first, to make room for an append', () => {
    const queue = new PeerQueue(3, 1000);
    queue.push({ bytes: Uint8Array.of(1), droppable: true });
    queue.push({ bytes: Uint8Array.of(2), droppable: false });
    queue.push({ bytes: Uint8Array.of(3), droppable: true });
    expect(queue.push({ bytes: Uint8Array.of(4), droppable: false })).toEqual({ accepted: true, evicted: 1 });
    expect(queue.takeUpTo(100).map((b) => b[0])).toEqual([2, 3, 4]);
  });

  it('drops a new heartbeat rather than evicting anything', () => {
    const queue = new PeerQueue(2, 1000);
    queue.push(message(1, true));
    queue.push(message(1, true));
    expect(queue.push(message(1, true))).toEqual({ accepted: false, evicted: 0 });
    expect(queue.length).toBe(2);
  });

  it('drops an append when evicting every heartbeat is still not enough', () => {
    const queue = new PeerQueue(10, 30);
    queue.push(message(5, true));
    queue.push(message(20));
    expect(queue.push(message(20))).toEqual({ accepted: false, evicted: 1 });
    expect(queue.bytes).toBe(20);
  });

  it('hands out messages in order, in batches bounded by bytes', () => {
    const queue = new PeerQueue(100, 1000);
    for (let i = 0; i < 5; i++) queue.push({ bytes: new Uint8Array(10).fill(i), droppable: false });
    expect(queue.takeUpTo(25).map((b) => b[0])).toEqual([0, 1]);
    expect(queue.takeUpTo(1000).map((b) => b[0])).toEqual([2, 3, 4]);
    expect(queue.length).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  it('stays correct over many pushes and takes', () => {
    const queue = new PeerQueue(5000, 1 << 20);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) queue.push({ bytes: Uint8Array.of(next++ % 256), droppable: false });
      for (const b of queue.takeUpTo(60 + (round % 7))) expect(b[0]).toBe(expected++ % 256);
    }
    expect(queue.length).toBe(next - expected);
  });
});
