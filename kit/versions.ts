/**
 * The GPU kit's stand-in for `src/backend/versions.ts`. The bundle has no
 * node_modules to read package.json files from, so the kit's build
 * (scripts/gpu-kit.ts) substitutes this module for that one and fills
 * `GRADLAB_KIT_VERSIONS` with the versions it bundled.
 */

declare const GRADLAB_KIT_VERSIONS: Record<string, string> | undefined;

/** The bundled version of a package, or 'not bundled'. */
export function packageVersion(name: string): string {
  return (typeof GRADLAB_KIT_VERSIONS !== 'undefined' && GRADLAB_KIT_VERSIONS[name]) || 'not bundled';
}

/** gradlab's own version at the time the kit was built. */
export function gradlabVersion(): string {
  return packageVersion('gradlab');
}
