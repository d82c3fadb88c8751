/**
 * Serves onnxruntime-web's runtime files (`.mjs` glue + `.wasm`) unbundled
 * under one folder of the site (`/ort/` by default), in dev and in the build.
 *
 * Why not let the bundler emit them? Vite does emit the `.wasm` of
 * onnxruntime-web's default build, but with threads, onnxruntime-web starts
 * its worker threads from the URL of the module that contains it. Once
 * bundled, that module is a chunk that may import shared helpers from the
 * application's entry chunk, and the worker then runs the application
 * (`document is not defined`). Serving the original files and pointing
 * `wasmPaths` at them (an absolute URL) keeps the workers on onnxruntime's
 * own module. Combine with the `onnxruntime-web-use-extern-wasm` condition so
 * the bundle does not also carry a second copy.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Plugin } from 'vite';

/** Options of {@link onnxruntimeWebFiles}. */
export interface OnnxruntimeWebFilesOptions {
  /** Folder of the site the files are served from. Default `ort`. */
  readonly dir?: string;
  /**
   * Files of `onnxruntime-web/dist` to serve. Default: the WebAssembly build
   * used by `import 'onnxruntime-web'` (`ort-wasm-simd-threaded.jsep.{mjs,wasm}`);
   * `onnxruntime-web/wasm` needs `ort-wasm-simd-threaded.{mjs,wasm}` instead.
   */
  readonly files?: readonly string[];
}

const TYPES: Record<string, string> = { mjs: 'text/javascript', wasm: 'application/wasm' };

/** A Vite plugin serving onnxruntime-web's runtime files from `/<dir>/`. */
export function onnxruntimeWebFiles(options: OnnxruntimeWebFilesOptions = {}): Plugin {
  const dir = (options.dir ?? 'ort').replace(/^\/+|\/+$/g, '');
  const files = options.files ?? ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];
  const require = createRequire(import.meta.url);
  // The files are in the package's "exports", so they resolve wherever npm put the package.
  const paths = new Map(files.map((f) => [f, require.resolve(`onnxruntime-web/${f}`)]));
  return {
    name: 'onnxruntime-web-files',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0]!;
        const prefix = `${server.config.base.replace(/\/$/, '')}/${dir}/`;
        const path = url.startsWith(prefix) ? paths.get(url.slice(prefix.length)) : undefined;
        if (path === undefined) return next();
        res.setHeader('content-type', TYPES[path.split('.').pop()!] ?? 'application/octet-stream');
        res.end(readFileSync(path));
      });
    },
    generateBundle() {
      for (const [file, path] of paths) this.emitFile({ type: 'asset', fileName: `${dir}/${file}`, source: readFileSync(path) });
    },
  };
}
