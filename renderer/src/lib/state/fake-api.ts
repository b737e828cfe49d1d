// Tests only: a fake of the contract's client (GmemLabApi), the one the renderer's stores, views
// and menu commands are tested against. It records every call in order, answers each method from
// `answers` (else with a plain default: an empty library, a stateful settings object, a saved
// file's path, null), and delivers events the test emits to the listeners the code subscribed.
// It fakes the transport, never the core: experiments are validated and results are shaped by the
// real core modules in the code under test.
import type {
  ApiArgs,
  ApiEvent,
  ApiEvents,
  ApiMethod,
  AppInfo,
  GmemLabApi,
  Settings,
} from '@contract/api';

type Answer = (args: Record<string, unknown>) => unknown;

export interface FakeApi {
  readonly api: GmemLabApi;
  /** Every call, in order, with its arguments. */
  readonly calls: Array<[ApiMethod, unknown]>;
  /** Calls and subscriptions in the order they happened ("call m", "on e"). */
  readonly order: string[];
  /** The settings as the fake's settings.set left them. */
  readonly settings: () => Settings;
  /** Deliver an event to the code's listeners, as the transport would. */
  emit<E extends ApiEvent>(event: E, payload: ApiEvents[E]): void;
  /** How many listeners an event has now. */
  listeners(event: ApiEvent): number;
  /** The arguments of the calls to one method. */
  argsOf<M extends ApiMethod>(method: M): Array<ApiArgs<M>>;
}

export const GiB = 2 ** 30;

/** The app's info as a test's transport reports it. */
export function fakeInfo(overrides: Partial<AppInfo> = {}): AppInfo {
  return {
    version: 't',
    engineVersion: 't',
    transport: 'bridge',
    platform: 'linux',
    nativeDialogs: false,
    defaultMemoryBudgetBytes: null,
    ...overrides,
  };
}

export function fakeSettings(overrides: Partial<Settings> = {}): Settings {
  return {
    theme: 'system',
    workspaceDir: '/w',
    recentFiles: [],
    memoryBudgetBytes: null,
    ...overrides,
  };
}

export function fakeApi(
  answers: Partial<Record<ApiMethod, Answer>> = {},
  options: { info?: AppInfo; settings?: Settings } = {},
): FakeApi {
  const calls: Array<[ApiMethod, unknown]> = [];
  const order: string[] = [];
  const subscribed = new Map<ApiEvent, Set<(payload: unknown) => void>>();
  let settings = options.settings ?? fakeSettings();
  const defaults: Partial<Record<ApiMethod, Answer>> = {
    'app.info': () => options.info ?? fakeInfo(),
    'presets.list': () => [],
    'experiments.list': () => [],
    'experiments.save': () => ({ path: '/w/saved.gmemlab.json', modifiedMs: 1 }),
    'settings.get': () => settings,
    'settings.set': (args) => (settings = { ...settings, ...args } as Settings),
  };
  const api: GmemLabApi = {
    call: (async (method: ApiMethod, args: Record<string, unknown>) => {
      calls.push([method, args]);
      order.push(`call ${method}`);
      const answer = answers[method] ?? defaults[method];
      return answer ? answer(args) : null;
    }) as GmemLabApi['call'],
    on: ((event: ApiEvent, listener: (payload: unknown) => void) => {
      order.push(`on ${event}`);
      let set = subscribed.get(event);
      if (!set) subscribed.set(event, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    }) as GmemLabApi['on'],
  };
  return {
    api,
    calls,
    order,
    settings: () => settings,
    emit: (event, payload) => {
      for (const l of subscribed.get(event) ?? []) l(payload);
    },
    listeners: (event) => subscribed.get(event)?.size ?? 0,
    argsOf: <M extends ApiMethod>(method: M) =>
      calls.filter(([m]) => m === method).map(([, a]) => a as ApiArgs<M>),
  };
}
