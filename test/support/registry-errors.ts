/** Assertions on the registry client's typed errors. */
import assert from 'node:assert/strict';
import { RegistryError } from '../../src/oci/errors.ts';
import type { RegistryErrorCode } from '../../src/oci/errors.ts';

/** Asserts that `promise` rejects with a RegistryError of `code` and returns it. */
export async function rejectsWith(promise: Promise<unknown>, code: RegistryErrorCode): Promise<RegistryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}
