import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyError, checkContentType } from '../../src/server/body.ts';

describe('the review body content type', () => {
  it('accepts application/json, with a UTF-8 charset or none, in any case and spacing', () => {
    for (const header of [
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'application/json;charset="UTF-8"',
      'application/json; charset=utf8; foo=bar',
    ]) {
      assert.doesNotThrow(() => checkContentType(header), header);
    }
  });

  it('refuses other types and charsets with 415 and a reason', () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /Content-Type: application\/json/],
      ['', /Content-Type: application\/json/],
      ['text/plain', /Content-Type: application\/json/],
      ['application/json-patch+json', /Content-Type: application\/json/],
      ['application/json; charset=latin1', /UTF-8 JSON, not charset "latin1"/],
      ['application/json; charset=utf-16', /not charset "utf-16"/],
    ];
    for (const [header, message] of cases) {
      assert.throws(
        () => checkContentType(header),
        (error: unknown) => error instanceof BodyError && error.status === 415 && message.test(error.message),
        String(header),
      );
    }
  });
});
