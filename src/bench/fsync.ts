/** The disk's fsync floor: how long an append of 256 bytes plus fsync takes in the temp dir. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { latencyStats, LatencyStats } from './util';

export interface FsyncResult {
  dir: string;
  samples: number;
  bytes: number;
  medianMs: number;
  latency: LatencyStats;
}

export function measureFsync(dir: string, samples = 200, bytes = 256): FsyncResult {
  const file = path.join(dir, 'fsync-probe.log');
  const fd = fs.openSync(file, 'a');
  const data = Buffer.alloc(bytes, 0x61);
  data[bytes - 1] = 0x0a;
  const lat: number[] = [];
  try {
    for (let i = 0; i < samples + 5; i++) {
      const t0 = process.hrtime.bigint();
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i >= 5) lat.push(ms); // the first few allocate the file
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  const latency = latencyStats(lat);
  return { dir, samples, bytes, medianMs: latency.p50Ms, latency };
}
