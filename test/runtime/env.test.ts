import { describe, expect, it } from 'vitest';
import { parseCoordEndpoints, readEnv, readyLine } from '../../src/runtime/index.js';

describe('runFromEnv configuration', () => {
  it('parses SHOAL_COORD in its three spellings', () => {
    expect(parseCoordEndpoints('127.0.0.1:8090,127.0.0.1:8092')).toEqual(['http://127.0.0.1:8090', 'http://127.0.0.1:8092']);
    expect(parseCoordEndpoints('etcd://h1:2379,h2:2379')).toEqual(['http://h1:2379', 'http://h2:2379']);
    expect(parseCoordEndpoints(' http://a:1 , https://b:2 ')).toEqual(['http://a:1', 'https://b:2']);
    expect(() => parseCoordEndpoints('')).toThrow(/no endpoints/);
    expect(() => parseCoordEndpoints('h1')).toThrow(/host and a port/);
  });

  it('reads the environment with defaults and rejects a bad port', () => {
    expect(readEnv({ SHOAL_COORD: '127.0.0.1:2379' })).toEqual({ coord: ['http://127.0.0.1:2379'], host: '127.0.0.1', port: 0, dataDir: undefined, logLevel: undefined });
    expect(readEnv({ SHOAL_COORD: 'etcd://e:2379', SHOAL_HOST: '0.0.0.0', SHOAL_PORT: '4711', SHOAL_DATA_DIR: '/d', SHOAL_LOG_LEVEL: 'debug' })).toEqual({
      coord: ['http://e:2379'],
      host: '0.0.0.0',
      port: 4711,
      dataDir: '/d',
      logLevel: 'debug',
    });
    expect(() => readEnv({})).toThrow(/SHOAL_COORD/);
    expect(() => readEnv({ SHOAL_COORD: 'a:1', SHOAL_PORT: 'http' })).toThrow(/SHOAL_PORT/);
  });

  it('formats the ready line the supervisor waits for', () => {
    expect(readyLine({ instanceId: 'goods-1a2b3c4d', urls: ['shoal+tcp://127.0.0.1:4711', 'http://127.0.0.1:4712'] })).toBe(
      'ready goods-1a2b3c4d shoal+tcp://127.0.0.1:4711 http://127.0.0.1:4712',
    );
  });
});
