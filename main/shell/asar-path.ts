// Files the packaged app keeps outside app.asar (electron-builder.yml, asarUnpack) are loaded from
// app.asar.unpacked: the simulation worker bundle, which worker_threads loads by path.

/** The path electron-builder's asarUnpack puts a file at: .../app.asar/x becomes
 * .../app.asar.unpacked/x; any other path (a checkout, out/) is returned as it is. */
export function unpackedPath(path: string): string {
  return path.replace(/([\\/])app\.asar(?=[\\/])/, '$1app.asar.unpacked');
}
