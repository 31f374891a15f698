// One error style: every error kube-proxy-ts raises on purpose is a KubeProxyError with a stable code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorMessage, hasCode, KubeProxyError } from '../../../src/errors.ts';
import {
  ApiStatusError,
  RequestTimeoutError,
  statusError,
} from '../../../src/sources/kubernetes/api-client.ts';
import { LineTooLongError } from '../../../src/sources/kubernetes/framing.ts';

test('errorMessage is the message of an Error and the string form of anything else', () => {
  assert.equal(errorMessage(new Error('boom')), 'boom');
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorMessage(42), '42');
  assert.equal(errorMessage(undefined), 'undefined');
});

test('the API client errors are KubeProxyErrors with codes and keep their names and fields', () => {
  const status = statusError(403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'no' });
  assert.ok(status instanceof ApiStatusError && status instanceof KubeProxyError);
  assert.equal(status.code, 'KP_ERR_API_STATUS');
  assert.equal(status.status, 403);
  assert.equal(status.name, 'ApiStatusError');
  const timeout = new RequestTimeoutError('GET /api: no data for 5 ms');
  assert.ok(hasCode(timeout, 'KP_ERR_API_TIMEOUT'));
  assert.equal(timeout.name, 'RequestTimeoutError');
  const long = new LineTooLongError('too long');
  assert.ok(hasCode(long, 'KP_ERR_WATCH_LINE_TOO_LONG'));
  assert.equal(long.name, 'LineTooLongError');
});
