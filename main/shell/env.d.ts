// electron-vite's import queries (`?modulePath`, `?nodeWorker`, ...) for the main process build.
/// <reference types="electron-vite/node" />
