// The preload exposes only a typed API object to the sandboxed renderer, never ipcRenderer.
import { contextBridge } from 'electron';

contextBridge.exposeInMainWorld('gmemlab', Object.freeze({ transport: 'electron' as const }));
