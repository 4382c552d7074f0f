// Bundles host-src.js (+ @farcaster/miniapp-host, react's useEffect it imports, zod, the noble
// libs) into one ESM file next to host.html.
import { build } from 'esbuild';
await build({
  entryPoints: ['host-src.js'],
  outfile: 'dist/host.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
  logLevel: 'info',
});
