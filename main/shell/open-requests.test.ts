import { describe, expect, it } from 'vitest';
import { unpackedPath } from './asar-path.js';
import {
  argumentPath,
  experimentPathsFromArgv,
  isExperimentPath,
  OpenQueue,
} from './open-requests.js';

describe('experiment paths from the command line', () => {
  it('takes *.gmemlab.json arguments, resolved against the working folder', () => {
    const argv = [
      '/opt/gmem-lab/gmem-lab',
      '--no-sandbox',
      'lab/a.gmemlab.json',
      '/data/b.gmemlab.json',
      'notes.json',
      '/data/b.gmemlab.json',
      '.',
    ];
    expect(experimentPathsFromArgv(argv, '/home/u')).toEqual([
      '/home/u/lab/a.gmemlab.json',
      '/data/b.gmemlab.json',
    ]);
  });

  it('takes file:// URLs (Linux desktop entries pass %U) and refuses other URLs', () => {
    expect(argumentPath('file:///data/my%20lab/a.gmemlab.json', '/')).toBe(
      '/data/my lab/a.gmemlab.json',
    );
    expect(argumentPath('https://example.com/a.gmemlab.json', '/')).toBeNull();
    expect(argumentPath('--inspect=a.gmemlab.json', '/')).toBeNull();
    expect(argumentPath('a\0.gmemlab.json', '/')).toBeNull();
  });

  it('skips the executable and the app folder of a development start', () => {
    expect(experimentPathsFromArgv(['/x/electron', '/src/gmem-lab'], '/src')).toEqual([]);
    expect(experimentPathsFromArgv(['/x/a.gmemlab.json'], '/')).toEqual([]);
  });

  it('isExperimentPath wants the whole suffix and a name', () => {
    expect(isExperimentPath('/a/b.gmemlab.json')).toBe(true);
    expect(isExperimentPath('/a/b.json')).toBe(false);
    expect(isExperimentPath('.gmemlab.json')).toBe(false);
    expect(isExperimentPath('/a/b.GMEMLAB.JSON')).toBe(false);
  });
});

describe('OpenQueue', () => {
  it('holds requests until the page is ready, then delivers in order, once each', () => {
    const q = new OpenQueue();
    const got: string[] = [];
    q.push('/a.gmemlab.json');
    q.push('/b.gmemlab.json');
    q.push('/a.gmemlab.json');
    expect(got).toEqual([]);
    q.ready((p) => got.push(p));
    expect(got).toEqual(['/a.gmemlab.json', '/b.gmemlab.json']);
    q.push('/c.gmemlab.json');
    expect(got).toEqual(['/a.gmemlab.json', '/b.gmemlab.json', '/c.gmemlab.json']);
    q.notReady();
    q.push('/d.gmemlab.json');
    expect(q.waiting).toEqual(['/d.gmemlab.json']);
  });
});

describe('unpackedPath', () => {
  it('maps a file inside app.asar to app.asar.unpacked, and leaves other paths alone', () => {
    expect(
      unpackedPath('/opt/gmem-lab/resources/app.asar/out/main/chunks/simulation-worker-1.mjs'),
    ).toBe('/opt/gmem-lab/resources/app.asar.unpacked/out/main/chunks/simulation-worker-1.mjs');
    expect(unpackedPath('C:\\gmem-lab\\resources\\app.asar\\out\\main\\w.mjs')).toBe(
      'C:\\gmem-lab\\resources\\app.asar.unpacked\\out\\main\\w.mjs',
    );
    expect(unpackedPath('/src/gmem-lab/out/main/chunks/w.mjs')).toBe(
      '/src/gmem-lab/out/main/chunks/w.mjs',
    );
    expect(unpackedPath('/x/app.asar.unpacked/w.mjs')).toBe('/x/app.asar.unpacked/w.mjs');
  });
});
