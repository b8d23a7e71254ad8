/** Writes test/fixtures/sample.ljsonl.gz from test/fixtures/sample.trace. */
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { projectPath } from '../../server/support/paths.js';
import { traceToCapture } from './trace.js';

const src = readFileSync(projectPath('test', 'fixtures', 'sample.trace'), 'utf8');
writeFileSync(projectPath('test', 'fixtures', 'sample.ljsonl.gz'), gzipSync(traceToCapture(src), { level: 9 }));
