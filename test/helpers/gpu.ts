/**
 * GPU suites: run where a usable GPU is; skipped loudly elsewhere; and with
 * MARLIN_REQUIRE_GPU=1 a missing GPU is a failure, not a skip.
 */
import { probe } from '../../lib/device';

const found = probe();
export const HAS_GPU = found.available;
const REQUIRE_GPU = process.env.MARLIN_REQUIRE_GPU === '1';
let warned = false;

export function describeGpu(name: string, body: () => void): void {
  if (HAS_GPU) {
    describe(name, body);
    return;
  }
  if (REQUIRE_GPU) {
    describe(name, () => {
      test('needs a usable GPU (MARLIN_REQUIRE_GPU=1)', () => {
        throw new Error(`MARLIN_REQUIRE_GPU=1 but no usable GPU: ${found.reason}`);
      });
    });
    return;
  }
  if (!warned) {
    warned = true;
    process.stderr.write(
      `\n*** marlin-node: GPU tests SKIPPED: ${found.reason}\n` +
        '*** (set MARLIN_REQUIRE_GPU=1 to make a missing GPU fail the run)\n\n',
    );
  }
  describe.skip(`${name} [SKIPPED: no GPU]`, body);
}
