import * as path from 'path';
import * as fs from 'fs';

/** The version of an installed package, or 'not installed'. */
export function packageVersion(name: string): string {
  try {
    const main = require.resolve(name);
    // Walk up from the package's main file to its own package.json.
    for (let dir = path.dirname(main); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
    }
  } catch {
    /* not installed */
  }
  return 'not installed';
}

/** gradlab's own version (from its package.json). */
export function gradlabVersion(): string {
  // dist/src/backend/versions.js -> repository root
  const file = path.resolve(__dirname, '..', '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
