import { afterAll } from 'vitest';
import { closeClient } from './client.js';

afterAll(() => closeClient());
