#!/bin/sh
# gradlab GPU kit: run gradlab's WebGPU tasks on a machine that has a GPU driver
# and python3 (or xz) but no Node and no package registry. Built by
# `npm run gpu-kit`; see SIZES.txt for what is inside.
#
#   sh run.sh facts          # what loaded: driver, loaders, ICDs, adapters (JSON)
#   sh run.sh mlp            # autograd MLP training step on webgpu (JSON)
#   sh run.sh all            # every task; one JSON object per line on stdout
#   sh run.sh --help         # the task list
#
# Steps: verify the files (sha256sum), unpack Node and Dawn (xz, else python3's
# lzma module), install the Vulkan/EGL loader libraries from debs/ into / when
# `ldconfig -p` lists no libvulkan and an NVIDIA driver is there (root only), point the loaders at NVIDIA's
# container manifests when no driver manifest is on their search paths, then
# run the bundle with the kit's own Node.
#
# Environment:
#   GRADLAB_KIT_LOADERS=auto|skip|force   install the loader debs (default auto: only where no libvulkan
#                                         is installed and an NVIDIA driver is)
#   GRADLAB_KIT_LOADER_ROOT=/             where to unpack them (another folder: only unpack, for testing)
#   GRADLAB_KIT_ALLOW_SOFTWARE=1          let measuring tasks run on a software adapter (Mesa llvmpipe)
#   GRADLAB_KIT_WORK=dir                  where Node and Dawn are unpacked (default $TMPDIR or /tmp/gradlab-kit-UID-SUM)
#   GRADLAB_KIT_UNXZ=python3              unpack with python3's lzma even where xz is installed (testing)
set -eu
KIT=$(cd "$(dirname "$0")" && pwd)
say() { echo "gpu-kit: $*" >&2; }

# 1. The files arrived intact.
if command -v sha256sum >/dev/null 2>&1; then
  (cd "$KIT" && sha256sum --quiet --strict -c SHA256SUMS) >&2 || {
    say "a kit file is damaged or missing (sha256sum -c SHA256SUMS failed in $KIT); copy the kit again"; exit 3; }
fi

# 2. Unpack Node and Dawn once (xz if installed, else python3's lzma).
unxz_to() {
  [ -s "$2" ] && [ "$2" -nt "$1" ] && return 0
  mkdir -p "$(dirname "$2")"
  if [ "${GRADLAB_KIT_UNXZ:-}" != python3 ] && command -v xz >/dev/null 2>&1; then
    xz -dc "$1" >"$2.part"
    say "unpacked $(basename "$1") with xz"
  elif command -v python3 >/dev/null 2>&1 && python3 -c 'import lzma' 2>/dev/null; then
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o: shutil.copyfileobj(i, o, 1 << 20)' "$1" "$2.part"
    say "unpacked $(basename "$1") with python3's lzma"
  else
    say "cannot unpack $1: neither xz nor python3 with its lzma module is installed"; exit 4
  fi
  mv "$2.part" "$2"
}
#    Into a work folder outside the kit (~150 MB unpacked), so the kit folder
#    stays small enough to be carried again.
WORK=${GRADLAB_KIT_WORK:-${TMPDIR:-/tmp}/gradlab-kit-$(id -u)-$(cksum <"$KIT/SHA256SUMS" | cut -d' ' -f1)}
mkdir -p "$WORK/node_modules/webgpu"
cp "$KIT/gradlab-kit.cjs" "$WORK/"
cp "$KIT/node_modules/webgpu/package.json" "$KIT/node_modules/webgpu/index.js" "$WORK/node_modules/webgpu/"
unxz_to "$KIT/node.xz" "$WORK/bin/node"
chmod +x "$WORK/bin/node"
"$WORK/bin/node" -e 0 || {
  say "the kit's Node ($("$WORK/bin/node" --version 2>/dev/null || echo 'its build')) does not start here: it needs x86-64 Linux with glibc >= 2.28 and libstdc++.so.6"; exit 5; }
unxz_to "$KIT/dawn.node.xz" "$WORK/node_modules/webgpu/dist/linux-x64/dawn.node"

# 3. Vulkan and EGL loader libraries, only where none is installed.
MODE=${GRADLAB_KIT_LOADERS:-auto}
ROOT=${GRADLAB_KIT_LOADER_ROOT:-/}
# has_nvidia DIR...: true when one of the folders holds an NVIDIA .json manifest.
has_nvidia() { for d in "$@"; do for f in "$d"/*nvidia*.json; do [ -e "$f" ] && return 0; done; done; return 1; }
has_vulkan() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
# Only a machine with NVIDIA's driver gains anything from them: elsewhere (a
# developer's box, CI) auto leaves / alone.
has_nvidia_driver() { [ -e /proc/driver/nvidia/version ] || [ -d /usr/local/nvidia ] || command -v nvidia-smi >/dev/null 2>&1; }
if [ "$MODE" = auto ] && ! has_vulkan && ! has_nvidia_driver && [ "$ROOT" = / ]; then
  say "no Vulkan loader here, and no NVIDIA driver either: not installing the kit's loaders into / (GRADLAB_KIT_LOADERS=force does)"
elif [ "$MODE" = force ] || { [ "$MODE" = auto ] && ! has_vulkan; }; then
  if [ ! -e "$(ls "$KIT"/debs/*.deb 2>/dev/null | head -n 1)" ]; then
    say "no Vulkan loader here and the kit carries no loader debs (built with GRADLAB_KIT_NO_DEBS=1?)"
  elif [ "$ROOT" = / ] && [ "$(id -u)" != 0 ]; then
    say "no Vulkan loader here, and installing the kit's debs into / needs root; run as root or install libvulkan1 libegl1 libglvnd0"
  else
    for f in "$KIT"/debs/*.deb; do
      if command -v dpkg >/dev/null 2>&1; then
        dpkg -x "$f" "$ROOT"
      else
        # No dpkg: a .deb is an ar archive holding data.tar.{xz,gz}.
        python3 - "$f" "$ROOT" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", sys.argv[1] + " is not a .deb"
i = 8
while i < len(data):
    name, size = data[i:i + 16].decode().strip().rstrip("/"), int(data[i + 48:i + 58])
    i += 60
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(data[i:i + size])).extractall(sys.argv[2])
    i += size + (size & 1)
PY
      fi
    done
    if [ "$ROOT" = / ]; then ldconfig; fi
    say "installed the Vulkan/EGL loaders from $KIT/debs into $ROOT"
  fi
fi

# 4. No NVIDIA driver manifest on the loaders' search paths but one in NVIDIA's container
#    folder: point the Vulkan and EGL loaders at it (they do not search there).
NV=/usr/local/nvidia/share
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NV/vulkan/icd.d/nvidia_icd.json" ] &&
  ! has_nvidia /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; then
  export VK_DRIVER_FILES="$NV/vulkan/icd.d/nvidia_icd.json"
  say "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$NV/glvnd/egl_vendor.d/10_nvidia.json" ] &&
  ! has_nvidia /etc/glvnd/egl_vendor.d /usr/share/glvnd/egl_vendor.d; then
  export __EGL_VENDOR_LIBRARY_FILENAMES="$NV/glvnd/egl_vendor.d/10_nvidia.json"
  say "__EGL_VENDOR_LIBRARY_FILENAMES=$__EGL_VENDOR_LIBRARY_FILENAMES"
fi

# 5. Run the tasks with the kit's own Node, away from any node_modules but the kit's.
unset NODE_OPTIONS NODE_PATH GRADLAB_BACKEND
exec "$WORK/bin/node" "$WORK/gradlab-kit.cjs" "$@"
