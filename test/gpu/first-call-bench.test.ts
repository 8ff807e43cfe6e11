/**
 * `npm run bench -- --first-call` on a GPU: every setup runs its fresh
 * processes (scripts/bench/first-call-child.ts, started through ts-node)
 * and brings back one row per layer and batch with a finite first call and
 * steady cost and an "again" call for each process. (The figures themselves are the bench's to
 * report, not a test's.)
 */
import { FIRST_CALL_RUNS, FIRST_CALL_SETUPS, measureFirstCalls } from '../../scripts/bench/first-call';
import { describeGpu } from '../helpers/gpu';

describeGpu('bench --first-call', () => {
  test(`each setup, ${FIRST_CALL_RUNS} fresh processes: one row per layer and batch, every time finite`, async () => {
    const rows = await measureFirstCalls(0, [{ k: 256, n: 128 }, { k: 512, n: 256 }], [1, 3]);
    expect(rows.map((r) => `${r.setup} ${r.k}x${r.n} ${r.m}`)).toEqual(
      FIRST_CALL_SETUPS.flatMap((s) => ['256x128 1', '256x128 3', '512x256 1', '512x256 3'].map((c) => `${s} ${c}`)),
    );
    for (const r of rows) {
      expect(r.firstUs).toHaveLength(FIRST_CALL_RUNS);
      expect(r.steadyUs).toHaveLength(FIRST_CALL_RUNS);
      expect(r.againUs).toHaveLength(FIRST_CALL_RUNS);
      for (const us of [...r.firstUs, ...r.steadyUs, ...r.againUs]) expect(Number.isFinite(us) && us > 0).toBe(true);
    }
  }, 120_000);
});
