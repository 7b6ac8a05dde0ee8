// (Being written: issue 14.)
import { test } from 'node:test';
